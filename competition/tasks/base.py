"""What every task provides to the stages, and what the closed-set tasks share."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from .. import PipelineError
from ..core.io import atomic_path
from ..core.metrics import balanced_accuracy

# How prepare holds out validation clips.
HELD_OUT_SPEAKERS = "speakers"  # whole speakers never trained on, as the test set's speakers are
HELD_OUT_CLIPS = "clips"        # a share of every speaker's clips: the classes are the speakers


class Task(Protocol):
    name: str
    labels: tuple[str, ...] | None  # the class order a model is trained with; None: the training data's
    submission_columns: tuple[str, ...]
    silence_label: str | None     # None: the task plans no silence clips
    unknown_label: str | None     # None: no unknown class, so no held-out words and no unknown share
    held_out: str                 # HELD_OUT_SPEAKERS or HELD_OUT_CLIPS
    verifies: bool                # train also scores verification on speakers it never saw

    def label_of(self, word: str, speaker: str) -> str:
        """The class of a clip of this spoken word by this speaker."""

    def classes(self, training_labels: Iterable[str]) -> tuple[str, ...]:
        """The class order of a model trained on clips with these labels."""

    def fallback_label(self, labels: Sequence[str]) -> str:
        """What an unreadable test clip is called, so no row is missing (`labels`: the model's)."""

    def calibrate(self, probabilities: np.ndarray, y: np.ndarray, enabled: bool) -> tuple[float, dict[float, float]]:
        """The decision threshold chosen on validation, and the score of every candidate."""

    def decide(self, probabilities: np.ndarray, threshold: float, labels: Sequence[str] | None = None) -> np.ndarray:
        """Class numbers from probabilities under the calibrated threshold, in `labels`' order."""

    def evaluate(self, probabilities: np.ndarray, y: np.ndarray, validation: pd.DataFrame,
                 train: pd.DataFrame) -> dict[str, float]:
        """Validation scores beyond accuracy that this task reports (rows of `validation` match `y`)."""

    def write_submission(self, path: Path, fnames: pd.Series, labels: np.ndarray, sample: Path,
                         classes: Sequence[str] | None = None) -> pd.DataFrame:
        """Check predictions against the sample file and the model's `classes` (the task's own
        classes by default), then write them atomically."""


class MostProbable:
    """The decision of a task without an unknown class (words, speakers): nothing to calibrate, the
    most probable class; an unreadable test clip gets the model's first class, no worse than another."""

    def fallback_label(self, labels: Sequence[str]) -> str:
        return labels[0]

    def calibrate(self, probabilities: np.ndarray, y: np.ndarray,
                  enabled: bool = True) -> tuple[float, dict[float, float]]:
        return 0.0, {0.0: balanced_accuracy(y, probabilities.argmax(axis=1), probabilities.shape[1])}

    def decide(self, probabilities: np.ndarray, threshold: float, labels: Sequence[str] | None = None) -> np.ndarray:
        return probabilities.argmax(axis=1)


def write_checked(path: Path, fnames: pd.Series, labels: np.ndarray, sample: Path, column: str,
                  allowed: Sequence[str], what: str) -> pd.DataFrame:
    """fname,<column> for every test clip of sample_submission.csv, in its order, atomic."""
    predictions = pd.DataFrame({"fname": fnames, column: labels})
    expected = pd.read_csv(sample)
    if set(predictions["fname"]) != set(expected["fname"]) or predictions["fname"].duplicated().any():
        raise PipelineError(f"{path}: the predictions' file names are not sample_submission.csv's, once each")
    if bad := sorted(set(predictions[column].astype(str)) - set(allowed)):
        raise PipelineError(f"{path}: {column}s outside the {len(allowed)} {what}: {bad[:5]}")
    predictions = predictions.set_index("fname").loc[expected["fname"]].reset_index()
    with atomic_path(path) as temp:
        predictions.to_csv(temp, index=False)
    return predictions
