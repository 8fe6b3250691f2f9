"""The default recipe over several seeds: one table of validation (balanced, plain) and public
accuracy per seed, then their mean, min and max. Decide on the mean, never on one draw.

    python benchmarks/seeds.py --input-dir ../shared/kaggle-mini --seeds 42 43 44 \\
        --solution ../shared/kaggle-mini/public_solution.csv [--root working/seeds] [-- EXTRA FLAGS]

Each seed runs `run.py --stage all --seed S` in ROOT/seed-S (a finished run is skipped by the
pipeline's own resume, so an interrupted benchmark continues where it stopped), its log in
ROOT/seed-S.log. Flags after `--` go to every run (a variant of the default). The table is
printed and written to ROOT/seeds.csv: train_minutes is the train stage's own time (from its
manifest), run_minutes this invocation's wall time for the seed (near 0 for a finished run). The
solution file is only scored, never used to choose.
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

COLUMNS = ["seed", "validation_balanced", "validation_plain", "public", "train_minutes", "run_minutes"]


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


def summary(rows: list[dict]) -> pd.DataFrame:
    """The seeds, then their mean, min and max (over the seeds; NaN where a column was not measured)."""
    table = pd.DataFrame(rows, columns=COLUMNS).astype({"seed": object})
    numbers = table.drop(columns="seed")
    stats = pd.DataFrame({"seed": ["mean", "min", "max"]}).join(
        pd.DataFrame([numbers.mean(), numbers.min(), numbers.max()]).reset_index(drop=True))
    return pd.concat([table, stats], ignore_index=True)


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input-dir", type=Path, required=True, help="folder with the competition's archives")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44], help="seeds (default: 42 43 44)")
    parser.add_argument("--solution", type=Path, default=None, help="fname,label file to score (default: none)")
    parser.add_argument("--root", type=Path, default=Path("working/seeds"),
                        help="a work folder per seed goes here (default: working/seeds)")
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    args.root.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in args.seeds:
        work, submission = args.root / f"seed-{seed}", args.root / f"seed-{seed}.csv"
        command = [sys.executable, str(REPO / "run.py"), "--stage", "all", "--seed", str(seed),
                   "--input-dir", str(args.input_dir), "--work-dir", str(work), "--output", str(submission), *extra]
        print(f"seed {seed}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        with open(args.root / f"seed-{seed}.log", "a") as log:
            code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO).returncode
        if code:
            sys.exit(f"error: seed {seed} failed (exit {code}); see {args.root / f'seed-{seed}.log'}")
        rows.append(seed_row(work, seed, args.solution, submission, time.perf_counter() - started))
    table = summary(rows)
    table.to_csv(args.root / "seeds.csv", index=False, float_format="%.4f")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
