"""The default recipe over several seeds: one table of validation (balanced, plain) and public
accuracy per seed, then their mean, min and max. Decide on the mean, never on one draw.

    python benchmarks/seeds.py --input-dir input/ --seeds 42 43 44 \\
        --solution solution.csv [--root working/seeds] [-- EXTRA FLAGS]

Each seed runs `run.py --stage all --seed S` in ROOT/seed-S (a finished run is skipped by the
pipeline's own resume, so an interrupted benchmark continues where it stopped), its log in
ROOT/seed-S.log. Flags after `--` go to every run (a variant of the default). The table is
printed and written to ROOT/seeds.csv: train_minutes is the train stage's own time (from its
manifest), run_minutes this invocation's wall time for the seed (near 0 for a finished run). A seed
that trained in this invocation also keeps its wall time in ROOT/seed-S.minutes, which --collect
reads. The solution file is only scored, never used to choose.

    python benchmarks/seeds.py --root working/seeds-variant --collect --against working/seeds/seeds.csv

--collect runs nothing: it tabulates the finished runs already in ROOT (say, seeds run one at a
time, each invocation of which writes a table of its own seeds only). --against REFERENCE reads
another seeds.csv and prints, seed by seed, how far this table's accuracies are from it (points),
the mean of those paired differences, and the reference's spread (max - min over its seeds): a
mean difference smaller than that spread is not a gain beyond the noise of the seeds.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402

from competition.core.io import atomic_write_text  # noqa: E402

COLUMNS = ["seed", "validation_balanced", "validation_plain", "public", "train_minutes", "run_minutes"]
ACCURACIES = ["validation_balanced", "validation_plain", "public"]
STATISTICS = ("mean", "min", "max")


def seed_row(work: Path, seed: int, solution: Path | None, submission: Path, run_seconds: float | None) -> dict:
    """One seed's numbers, read from its finished run."""
    from competition.analysis.scoring import score

    metrics = json.loads((work / "model" / "metrics.json").read_text())
    train = json.loads((work / "manifests" / "train.json").read_text())
    return {"seed": seed, "validation_balanced": metrics["validation_balanced_accuracy"],
            "validation_plain": metrics["validation_accuracy"],
            "public": score(submission, solution)["accuracy"] if solution else float("nan"),
            "train_minutes": train["seconds"] / 60,
            "run_minutes": float("nan") if run_seconds is None else run_seconds / 60}


def train_record(work: Path) -> bytes | None:
    """The train manifest as it stands: a change across an invocation means the seed trained in it."""
    path = work / "manifests" / "train.json"
    return path.read_bytes() if path.is_file() else None


def wall_minutes(root: Path, seed: int) -> float | None:
    """The wall time of the invocation that trained this seed, if one recorded it."""
    path = root / f"seed-{seed}.minutes"
    return float(path.read_text()) if path.is_file() else None


def summary(rows: list[dict]) -> pd.DataFrame:
    """The seeds, then their mean, min and max (over the seeds; NaN where a column was not measured)."""
    table = pd.DataFrame(rows, columns=COLUMNS).astype({"seed": object})
    numbers = table.drop(columns="seed")
    stats = pd.DataFrame({"seed": ["mean", "min", "max"]}).join(
        pd.DataFrame([numbers.mean(), numbers.min(), numbers.max()]).reset_index(drop=True))
    return pd.concat([table, stats], ignore_index=True)


def read_table(path: Path) -> pd.DataFrame:
    """A seeds.csv as written by this benchmark: its per-seed rows, indexed by seed."""
    table = pd.read_csv(path, dtype={"seed": str})
    missing = [c for c in ["seed", *ACCURACIES] if c not in table.columns]
    if missing:
        raise SystemExit(f"error: {path} is not a seeds table: it lacks the column(s) {', '.join(missing)} "
                         f"(expected the header {','.join(COLUMNS)})")
    rows = table[~table["seed"].isin(STATISTICS)]
    return rows.assign(seed=rows["seed"].astype(int)).set_index("seed")


def paired_differences(table: pd.DataFrame, reference: pd.DataFrame, where: str) -> pd.DataFrame:
    """Per seed both tables hold, this table's accuracies minus the reference's, in points; then the
    mean difference and the reference's spread (max - min over all of its seeds)."""
    common = sorted(set(table.index) & set(reference.index))
    if not common:
        raise SystemExit(f"error: no seed in common with {where} (this table: {sorted(table.index)}; "
                         f"it: {sorted(reference.index)})")
    points = (table.loc[common, ACCURACIES] - reference.loc[common, ACCURACIES]) * 100
    spread = (reference[ACCURACIES].max() - reference[ACCURACIES].min()) * 100
    out = pd.concat([points, pd.DataFrame([points.mean(), spread], index=["mean difference", "reference spread"])])
    out.index.name = "seed"
    return out


def verdicts(differences: pd.DataFrame) -> list[str]:
    lines = []
    for column in ACCURACIES:
        gain, spread = differences.loc["mean difference", column], differences.loc["reference spread", column]
        if pd.isna(gain):
            continue
        reading = ("beyond the reference's spread" if abs(gain) > spread
                   else "within the reference's spread: not a difference beyond the noise of the seeds")
        lines.append(f"{column}: {gain:+.2f} points on average, spread {spread:.2f}: {reading}")
    return lines


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input-dir", type=Path, default=None,
                        help="folder with the competition's archives (required unless --collect)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44], help="seeds (default: 42 43 44)")
    parser.add_argument("--solution", type=Path, default=None, help="fname,label file to score (default: none)")
    parser.add_argument("--root", type=Path, default=Path("working/seeds"),
                        help="a work folder per seed goes here (default: working/seeds)")
    parser.add_argument("--collect", action="store_true",
                        help="run nothing; tabulate the finished runs of --seeds in --root (default: off)")
    parser.add_argument("--against", type=Path, default=None,
                        help="a reference seeds.csv to compare with, seed by seed (default: none)")
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    if args.input_dir is None and not args.collect:
        parser.error("--input-dir is required unless --collect")
    reference = read_table(args.against) if args.against else None
    args.root.mkdir(parents=True, exist_ok=True)
    # a collected seed keeps the wall time an earlier invocation measured for it (tables from before
    # the .minutes files kept it only in that invocation's seeds.csv)
    earlier = read_table(args.root / "seeds.csv") if args.collect and (args.root / "seeds.csv").is_file() else None
    rows = []
    for seed in args.seeds:
        work, submission = args.root / f"seed-{seed}", args.root / f"seed-{seed}.csv"
        if args.collect:
            if not (work / "manifests" / "train.json").is_file() or not submission.is_file():
                sys.exit(f"error: --collect: no finished run for seed {seed} in {work} (expected "
                         f"{work / 'manifests' / 'train.json'} and {submission})")
            measured = wall_minutes(args.root, seed)
            if measured is None and earlier is not None:
                measured = earlier["run_minutes"].get(seed)
            rows.append(seed_row(work, seed, args.solution, submission,
                                 None if measured is None or pd.isna(measured) else measured * 60))
            continue
        command = [sys.executable, str(REPO / "run.py"), "--stage", "all", "--seed", str(seed),
                   "--input-dir", str(args.input_dir), "--work-dir", str(work), "--output", str(submission), *extra]
        print(f"seed {seed}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
        started, trained_before = time.perf_counter(), train_record(work)
        with open(args.root / f"seed-{seed}.log", "a") as log:
            code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO).returncode
        if code:
            sys.exit(f"error: seed {seed} failed (exit {code}); see {args.root / f'seed-{seed}.log'}")
        seconds = time.perf_counter() - started
        if train_record(work) != trained_before:
            atomic_write_text(args.root / f"seed-{seed}.minutes", f"{seconds / 60:.4f}\n")
        rows.append(seed_row(work, seed, args.solution, submission, seconds))
    table = summary(rows)
    table.to_csv(args.root / "seeds.csv", index=False, float_format="%.4f")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if reference is not None:
        differences = paired_differences(read_table(args.root / "seeds.csv"), reference, str(args.against))
        print(f"\nagainst {args.against}, in points (this table minus it):")
        print(differences.to_string(float_format=lambda v: f"{v:+.2f}"))
        print("\n".join(verdicts(differences)))


if __name__ == "__main__":
    main()
