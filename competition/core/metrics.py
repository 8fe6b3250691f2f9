"""Scores shared by training, the baseline and the reports."""
from __future__ import annotations

import numpy as np
import pandas as pd


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Mean recall over the classes present: the accuracy on a test set with equal class shares,
    which is close to the competition's test mix."""
    recalls = [float((y_pred[y_true == c] == c).mean()) for c in range(n_classes) if (y_true == c).any()]
    return float(np.mean(recalls))


def confused_pairs(matrix: pd.DataFrame, count: int) -> pd.DataFrame:
    """The `count` largest off-diagonal cells of a confusion matrix (rows true, columns predicted):
    what a grid of a few hundred classes cannot show."""
    counts = matrix.to_numpy().copy()
    np.fill_diagonal(counts, 0)
    true, predicted = np.nonzero(counts)
    pairs = pd.DataFrame({"true": matrix.index[true], "predicted": matrix.columns[predicted],
                          "clips": counts[true, predicted]})
    support = counts.sum(axis=1) + np.diag(matrix.to_numpy())
    pairs["share_of_true"] = pairs["clips"] / support[true]
    return pairs.sort_values(["clips", "true", "predicted"], ascending=[False, True, True]).head(count).reset_index(
        drop=True)


def per_class_scores(matrix: pd.DataFrame) -> pd.DataFrame:
    """Precision, recall, F1 and support per label from a confusion matrix (rows true, columns predicted)."""
    counts = matrix.to_numpy(float)
    correct = np.diag(counts)
    support, predicted = counts.sum(axis=1), counts.sum(axis=0)
    precision = np.divide(correct, predicted, out=np.zeros_like(correct), where=predicted > 0)
    recall = np.divide(correct, support, out=np.zeros_like(correct), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(correct), where=total > 0)
    return pd.DataFrame({"precision": precision, "recall": recall, "f1": f1, "support": support.astype(int)},
                        index=pd.Index(matrix.index, name="label"))


def macro_scores(matrix: pd.DataFrame) -> dict[str, float]:
    """Precision, recall and F1 averaged over the classes that have clips (rows with support), each
    class weighing the same: `macro_recall` is then the balanced accuracy."""
    scores = per_class_scores(matrix)
    present = scores[scores["support"] > 0]
    return {f"macro_{name}": float(present[name].mean()) for name in ("precision", "recall", "f1")}
