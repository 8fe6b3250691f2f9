"""All 30 words as classes: no silence to synthesise, no unknown class, no threshold; fname,word files."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .. import PipelineError
from ..core.io import atomic_path
from ..core.labels import WORDS
from ..core.metrics import balanced_accuracy


@dataclasses.dataclass(frozen=True)
class WordsTask:
    name: str = "words"
    labels: tuple[str, ...] = WORDS
    # every row needs a word; an unreadable clip says nothing, and "yes" is no worse than another
    fallback_label: str = WORDS[0]
    submission_columns: tuple[str, ...] = ("fname", "word")
    silence_label: str | None = None
    unknown_label: str | None = None

    def label_of(self, word: str) -> str:
        return word

    def calibrate(self, probabilities: np.ndarray, y: np.ndarray,
                  enabled: bool = True) -> tuple[float, dict[float, float]]:
        """Nothing to calibrate: the most probable word."""
        return 0.0, {0.0: balanced_accuracy(y, self.decide(probabilities, 0.0), len(self.labels))}

    def decide(self, probabilities: np.ndarray, threshold: float, labels: Sequence[str] | None = None) -> np.ndarray:
        return probabilities.argmax(axis=1)

    def write_submission(self, path: Path, fnames: pd.Series, labels: np.ndarray, sample: Path) -> pd.DataFrame:
        """fname,word for every test clip of sample_submission.csv, in its order, atomic."""
        submission = pd.DataFrame({"fname": fnames, "word": labels})
        expected = pd.read_csv(sample)
        if set(submission["fname"]) != set(expected["fname"]) or submission["fname"].duplicated().any():
            raise PipelineError(f"{path}: the predictions' file names are not sample_submission.csv's, once each")
        if bad := sorted(set(submission["word"].astype(str)) - set(self.labels)):
            raise PipelineError(f"{path}: words outside the {len(self.labels)} of the data set: {bad[:5]}")
        submission = submission.set_index("fname").loc[expected["fname"]].reset_index()
        with atomic_path(path) as temp:
            submission.to_csv(temp, index=False)
        return submission
