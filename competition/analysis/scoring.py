"""Score a submission against a solution file, as Kaggle's leaderboard does (plain accuracy)."""
from __future__ import annotations

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


def score(submission_path: Path, solution_path: Path) -> dict:
    """Accuracy overall, per Usage (when the solution has that column) and per class, plus the confusion matrix."""
    submission = _read(submission_path, "submission")
    solution = _read(solution_path, "solution")
    merged = solution.merge(submission[["fname", "label"]], on="fname", how="left", suffixes=("", "_predicted"))
    missing = merged["label_predicted"].eq("") | merged["label_predicted"].isna()
    if missing.any():
        raise PipelineError(
            f"{submission_path}: {int(missing.sum())} of the {len(solution)} clips in {solution_path} have no "
            f"prediction (e.g. {list(merged.loc[missing, 'fname'][:3])})"
        )
    merged["correct"] = merged["label"] == merged["label_predicted"]
    report = {"clips": len(merged), "accuracy": float(merged["correct"].mean())}
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
    lines = [f"accuracy {report['accuracy']:.4f} on {report['clips']} clips"]
    for usage, accuracy in report.get("by_usage", {}).items():
        lines.append(f"  {usage}: {accuracy:.4f}")
    lines.append("per class: " + ", ".join(f"{k} {v:.3f}" for k, v in report["by_class"].items()))
    lines.append("confusion matrix (rows: true, columns: predicted):")
    lines.append(report["confusion"].to_string())
    return "\n".join(lines)
