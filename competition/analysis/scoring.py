"""Score a submission against a solution file, as Kaggle's leaderboard does (plain accuracy)."""
from __future__ import annotations

import filecmp
from pathlib import Path

import pandas as pd

from .. import PipelineError
from ..core.labels import LABELS


def _read(path: Path, what: str) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, keep_default_na=False)
    except (OSError, ValueError) as error:
        raise PipelineError(f"{path}: cannot read the {what} ({error})") from error
    if not {"fname", "label"} <= set(table.columns):
        raise PipelineError(f"{path}: the {what} needs columns fname,label; found {','.join(table.columns)}")
    return table


SOLUTION_FORMAT = "a solution file: fname,label[,Usage] with the true label of each test clip"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or a.samefile(b)
    except OSError:  # one of them missing: reading it says so
        return False


def _check_not_the_submission(submission_path: Path, solution_path: Path) -> None:
    """A submission given as its own solution scores 1.0: refused, as is a copy of it."""
    if _same_file(submission_path, solution_path):
        raise PipelineError(f"--score {solution_path} is the submission being scored (--output {submission_path}): "
                            f"expected {SOLUTION_FORMAT}; name the submission with --output")
    try:
        identical = filecmp.cmp(submission_path, solution_path, shallow=False)
    except OSError:
        return
    if identical:
        raise PipelineError(f"{solution_path} has the same content as the submission {submission_path}: it looks "
                            f"like a copy of a submission, not a solution; expected {SOLUTION_FORMAT}")


def score(submission_path: Path, solution_path: Path) -> dict:
    """Accuracy overall, per Usage (when the solution has that column) and per class, plus the confusion matrix.
    Only the solution's labelled rows count (a row with an empty label has no truth to score against)."""
    _check_not_the_submission(Path(submission_path), Path(solution_path))
    submission = _read(submission_path, "submission")
    solution = _read(solution_path, "solution")
    solution = solution[solution["label"].astype(str).str.strip().ne("")]
    if not solution["fname"].isin(submission["fname"]).any():
        raise PipelineError(
            f"{solution_path}: none of its {len(solution)} labelled rows names a clip of the submission "
            f"{submission_path} ({len(submission)} rows); expected {SOLUTION_FORMAT} of the same test clips"
        )
    merged = solution.merge(submission[["fname", "label"]], on="fname", how="left", suffixes=("", "_predicted"))
    missing = merged["label_predicted"].eq("") | merged["label_predicted"].isna()
    if missing.any():
        raise PipelineError(
            f"{submission_path}: {int(missing.sum())} of the {len(solution)} clips in {solution_path} have no "
            f"prediction (e.g. {list(merged.loc[missing, 'fname'][:3])})"
        )
    merged["correct"] = merged["label"] == merged["label_predicted"]
    report = {"submission": str(submission_path), "solution": str(solution_path),
              "clips": len(merged), "accuracy": float(merged["correct"].mean())}
    if "Usage" in merged:
        report["by_usage"] = {usage: float(group["correct"].mean()) for usage, group in merged.groupby("Usage")}
    labels = [label for label in LABELS if label in set(merged["label"])]
    report["by_class"] = {label: float(merged.loc[merged["label"] == label, "correct"].mean()) for label in labels}
    report["confusion"] = pd.crosstab(
        pd.Categorical(merged["label"], categories=LABELS),
        pd.Categorical(merged["label_predicted"], categories=LABELS),
        rownames=["true"], colnames=["predicted"], dropna=False,
    )
    return report


def format_report(report: dict) -> str:
    lines = [f"scoring {report['submission']} (the submission) against {report['solution']} (the solution)",
             f"accuracy {report['accuracy']:.4f} on {report['clips']} clips"]
    for usage, accuracy in report.get("by_usage", {}).items():
        lines.append(f"  {usage}: {accuracy:.4f}")
    lines.append("per class: " + ", ".join(f"{k} {v:.3f}" for k, v in report["by_class"].items()))
    lines.append("confusion matrix (rows: true, columns: predicted):")
    lines.append(report["confusion"].to_string())
    return "\n".join(lines)
