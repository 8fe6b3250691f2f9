"""One task's models side by side, as the courses ask: the classical models on pooled MFCC16k and the
registry's networks (a dense network on pooled features, the 1-D CNN on the waveform, the 2-D CNNs on
MFCCs and on spectrograms), each with its parameters, saved bytes, validation accuracy, balanced
accuracy and macro precision, recall and F1.

    python benchmarks/compare.py --task words --input-dir input/ [--root working/compare] \\
        [--epochs 40] [--seed 42] [--families dense:mfcc conv1d:wave cnn:logspec cnn:mfcc mel-cnn:logspec] \\
        [-- EXTRA FLAGS]

Each family MODEL:FEATURES runs `run.py --stage all --task T --model M --features F --epochs N --seed S`
in ROOT/<task>-<model>-<features>, its log in ROOT/<task>-<model>-<features>.log. ROOT/shared holds what
the families share: the archives extracted once (`--stage extract`) and, per task, the prepared index and
the classical models (`--stage prepare`, then `--stage baseline`), their log in ROOT/shared.log. Flags
after `--` go to every run. Every run gets the same --task, --seed and extra flags, so every row is
scored on the same validation clips.

Resume: before each run the pipeline's own test of what is out of date (`stages.runner.staleness`, on the
settings that run's flags give) is asked here. A run with nothing to do is skipped without starting
TensorFlow; any other runs, and the pipeline then continues after its last finished stage and epoch, so an
interrupted benchmark goes on where it stopped. A family runs `--stage all`, not `--stage train`: a named
stage always runs again, and train needs prepare and features before it; the predict that comes with
`all` costs seconds (its submission lands in the family's folder).

Extracted once: a family's folder gets shared/extract hard-linked file by file (copied where the file
system refuses links), then the shared extract manifest, last, so its `--stage all` finds extract up to
date. The full competition's clips take about 2 GB once extracted, so six copies would cost 13 GB and six
extractions; links cost neither. Links are safe here because no stage writes into extract/ once it is
there: a new extraction unpacks into a temporary folder and renames it, and so never writes through a
link. A family whose extract manifest differs from the shared one (the archives changed) is linked again.

The table is printed under a title line that names the epochs and the seed (compare tables of the same
budget only) and written to ROOT/<task>-compare.csv, best balanced accuracy first. Networks' numbers come
from model/metrics.json, model/confusion_matrix.csv and the train manifest (train_minutes: the train
stage's own time); the classical models' from baseline/results.csv (train_minutes: the fit). Macro
scores weigh each class with validation clips the same, so macro recall is the balanced accuracy. A task
that verifies speakers (speakers) adds top5, top1_new_word and the verification's eer (networks only).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402

import run  # noqa: E402
from competition import PipelineError  # noqa: E402
from competition.core.flags import DEFAULTS, settings_from_args  # noqa: E402
from competition.core.paths import Paths  # noqa: E402
from competition.stages.runner import staleness  # noqa: E402
from competition.stages.table import STAGE_NAMES, stage_by_name  # noqa: E402
from competition.tasks import get_task, task_names  # noqa: E402

# mel-cnn computes its own log-mel bands from the spectrogram, so it reads logspec only
FAMILIES = ["dense:mfcc", "conv1d:wave", "cnn:logspec", "cnn:mfcc", "mel-cnn:logspec"]
COLUMNS = ["family", "kind", "parameters", "model_bytes", "epochs", "accuracy", "balanced_accuracy",
           "macro_precision", "macro_recall", "macro_f1", "train_minutes"]
VERIFICATION_COLUMNS = ["top5", "top1_new_word", "eer"]
SHARED = "shared"


def family(text: str) -> tuple[str, str]:
    model, _, features = text.partition(":")
    if not model or not features:
        raise argparse.ArgumentTypeError(f"expected MODEL:FEATURES (such as mel-cnn:logspec), got {text!r}")
    from competition.models.registry import check_features  # refused here, not after the other families ran

    try:
        check_features(model, features)
    except PipelineError as error:
        raise argparse.ArgumentTypeError(str(error)) from error
    return model, features


def task_paths(work: Path, task: str) -> Paths:
    return Paths(input_dir=Path(), work_dir=work, output=work / "submission.csv", task=task)


def pending(flags: list[str], stage_names: tuple[str, ...]) -> str | None:
    """Why `run.py flags` would run one of `stage_names`, asked of the pipeline's runner; None when
    all are up to date."""
    args = run.parse_args(flags)
    settings = settings_from_args(args)
    paths = Paths(input_dir=args.input_dir, work_dir=args.work_dir, output=args.output, task=settings.task)
    for name in stage_names:
        if reason := staleness(stage_by_name(name), paths, settings):
            return f"stage {name}: {reason}"
    return None


def run_if_pending(label: str, flags: list[str], stage_names: tuple[str, ...], log: Path) -> None:
    """Run `run.py flags` (output appended to `log`) when one of `stage_names` is out of date."""
    try:
        reason = pending(flags, stage_names)
    except PipelineError as error:
        sys.exit(f"error: {label}: {error}")
    if reason is None:
        print(f"{label}: up to date, skipped", file=sys.stderr, flush=True)
        return
    command = [sys.executable, str(REPO / "run.py"), *flags]
    print(f"{label}: {reason}; {' '.join(command[1:])}", file=sys.stderr, flush=True)
    with open(log, "a") as out:
        code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO).returncode
    if code:
        sys.exit(f"error: {label} failed (exit {code}); see {log}")


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links, or another device
        shutil.copy2(source, target)


def link_extract(shared: Paths, work: Paths) -> None:
    """Give `work` the shared extraction: its files linked, then its manifest, unless it has it already."""
    manifest = shared.manifest("extract").read_bytes()
    if work.manifest("extract").is_file() and work.manifest("extract").read_bytes() == manifest:
        return
    work.manifest("extract").unlink(missing_ok=True)  # first, so a half-linked folder is never trusted
    shutil.rmtree(work.extract_dir, ignore_errors=True)
    shutil.copytree(shared.extract_dir, work.extract_dir, copy_function=_link_or_copy)
    work.manifest("extract").parent.mkdir(parents=True, exist_ok=True)
    work.manifest("extract").write_bytes(manifest)


def network_row(paths: Paths, model: str, features: str) -> dict:
    """One family's numbers, read from its finished run."""
    from competition.analysis.reports import read_confusion_matrix
    from competition.core.metrics import macro_scores

    metrics = json.loads(paths.metrics_json.read_text())
    train = json.loads(paths.manifest("train").read_text())
    scores = metrics.get("task_scores", {})
    return {"family": f"{model} on {features}", "kind": "network", "parameters": metrics["parameters"],
            "model_bytes": metrics["model_bytes"], "epochs": train["config"]["epochs"],
            "accuracy": metrics["validation_accuracy"], "balanced_accuracy": metrics["validation_balanced_accuracy"],
            **macro_scores(read_confusion_matrix(paths.confusion_csv)), "train_minutes": train["seconds"] / 60,
            "top5": scores.get("top5"), "top1_new_word": scores.get("top1_new_word"),
            "eer": scores.get("verification", {}).get("eer")}


def classical_rows(paths: Paths) -> list[dict]:
    """The baseline's models, read from its results.csv."""
    results = pd.read_csv(paths.baseline_results)
    return [{"family": f"{r.model} (pooled MFCC16k)", "kind": "classical", "model_bytes": r.model_bytes,
             "accuracy": r.validation_accuracy, "balanced_accuracy": r.validation_balanced_accuracy,
             "macro_precision": r.validation_macro_precision, "macro_recall": r.validation_macro_recall,
             "macro_f1": r.validation_macro_f1, "train_minutes": r.fit_seconds / 60}
            for r in results.itertuples()]


def comparison(rows: list[dict], verifies: bool) -> pd.DataFrame:
    """The rows, best balanced accuracy first; the verification's columns for a task that verifies."""
    table = pd.DataFrame(rows, columns=COLUMNS + (VERIFICATION_COLUMNS if verifies else []))
    table = table.astype({"parameters": "Int64", "model_bytes": "Int64", "epochs": "Int64"})
    return table.sort_values("balanced_accuracy", ascending=False, kind="stable").reset_index(drop=True)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True, choices=task_names(), help="the task whose classes are learnt")
    parser.add_argument("--input-dir", type=Path, required=True, help="folder with the competition's archives")
    parser.add_argument("--root", type=Path, default=Path("working/compare"),
                        help="the shared folder and a work folder per family go here (default: working/compare)")
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs,
                        help=f"most epochs for every network (default: the pipeline's, {DEFAULTS.epochs})")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help=f"seed (default: {DEFAULTS.seed})")
    parser.add_argument("--families", type=family, nargs="+", default=[family(f) for f in FAMILIES],
                        metavar="MODEL:FEATURES", help=f"networks to train (default: {' '.join(FAMILIES)})")
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    root = args.root.resolve()  # the runs start in the repository, wherever this was started
    root.mkdir(parents=True, exist_ok=True)
    common = ["--task", args.task, "--seed", str(args.seed), "--input-dir", str(args.input_dir.resolve()), *extra]
    shared = task_paths(root / SHARED, args.task)
    for stage in ("extract", "prepare", "baseline"):
        flags = ["--stage", stage, "--work-dir", str(shared.work_dir),
                 "--output", str(root / SHARED / f"{args.task}-baseline-submission.csv"), *common]
        run_if_pending(f"shared {stage}", flags, (stage,), root / f"{SHARED}.log")
    rows = []
    for model, features in args.families:
        name = f"{args.task}-{model}-{features}"
        work = task_paths(root / name, args.task)
        link_extract(shared, work)
        flags = ["--stage", "all", "--model", model, "--features", features, "--epochs", str(args.epochs),
                 "--work-dir", str(work.work_dir), "--output", str(work.output), *common]
        run_if_pending(name, flags, STAGE_NAMES, root / f"{name}.log")
        rows.append(network_row(work, model, features))
    rows += classical_rows(shared)
    table = comparison(rows, get_task(args.task).verifies)
    table.to_csv(root / f"{args.task}-compare.csv", index=False, float_format="%.4f")
    print(f"task {args.task}: networks at {args.epochs} epochs, seed {args.seed}; classical models on pooled "
          f"MFCC16k; every row on the same validation clips" + (f"; flags: {' '.join(extra)}" if extra else ""))
    shown = table.assign(**{column: table[column].map(lambda v: "" if pd.isna(v) else f"{v:,}")
                            for column in ("parameters", "model_bytes", "epochs")})
    print(shown.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
