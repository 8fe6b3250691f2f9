"""What every task provides to the stages."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd


class Task(Protocol):
    name: str
    labels: tuple[str, ...]       # the class order a model of this task is trained with
    fallback_label: str           # what an unreadable test clip is called, so no row is missing
    submission_columns: tuple[str, ...]
    silence_label: str | None     # None: the task plans no silence clips
    unknown_label: str | None     # None: no unknown class, so no held-out words and no unknown share

    def label_of(self, word: str) -> str:
        """The class of a clip of this spoken word."""

    def calibrate(self, probabilities: np.ndarray, y: np.ndarray, enabled: bool) -> tuple[float, dict[float, float]]:
        """The decision threshold chosen on validation, and the score of every candidate."""

    def decide(self, probabilities: np.ndarray, threshold: float, labels: Sequence[str] | None = None) -> np.ndarray:
        """Class numbers from probabilities under the calibrated threshold, in `labels`' order."""

    def write_submission(self, path: Path, fnames: pd.Series, labels: np.ndarray, sample: Path) -> pd.DataFrame:
        """Check predictions against the sample file, then write them atomically."""
