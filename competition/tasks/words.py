"""All 30 words as classes: no silence to synthesise, no unknown class, no threshold; fname,word files."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.labels import WORDS
from .base import HELD_OUT_SPEAKERS, MostProbable, write_checked


@dataclasses.dataclass(frozen=True)
class WordsTask(MostProbable):
    name: str = "words"
    labels: tuple[str, ...] = WORDS
    submission_columns: tuple[str, ...] = ("fname", "word")
    silence_label: str | None = None
    unknown_label: str | None = None
    held_out: str = HELD_OUT_SPEAKERS
    verifies: bool = False

    def label_of(self, word: str, speaker: str) -> str:
        return word

    def classes(self, training_labels: Iterable[str]) -> tuple[str, ...]:
        return self.labels

    def evaluate(self, probabilities: np.ndarray, y: np.ndarray, validation: pd.DataFrame,
                 train: pd.DataFrame) -> dict[str, float]:
        return {}

    def write_submission(self, path: Path, fnames: pd.Series, labels: np.ndarray, sample: Path,
                         classes: Sequence[str] | None = None) -> pd.DataFrame:
        return write_checked(path, fnames, labels, sample, "word", self.labels, "words of the data set")
