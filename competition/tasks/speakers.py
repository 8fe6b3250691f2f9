"""Who is speaking: the speakers with enough clips are the classes, a share of each one's clips
validates, and the speakers with fewer clips (never trained on) score verification."""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .base import HELD_OUT_CLIPS, MostProbable, write_checked

log = logging.getLogger(__name__)

TOP_K = 5  # the course's second number: is the right speaker among the five most probable


@dataclasses.dataclass(frozen=True)
class SpeakersTask(MostProbable):
    name: str = "speakers"
    labels: tuple[str, ...] | None = None  # the speakers prepare kept, in sorted order
    submission_columns: tuple[str, ...] = ("fname", "speaker")
    silence_label: str | None = None
    unknown_label: str | None = None
    held_out: str = HELD_OUT_CLIPS
    verifies: bool = True

    def label_of(self, word: str, speaker: str) -> str:
        return speaker

    def classes(self, training_labels: Iterable[str]) -> tuple[str, ...]:
        return tuple(sorted(set(training_labels)))

    def evaluate(self, probabilities: np.ndarray, y: np.ndarray, validation: pd.DataFrame,
                 train: pd.DataFrame) -> dict[str, float]:
        """Top-1 and top-5, and top-1 on the clips of a word their speaker never said in training:
        there only the voice can tell, not the word."""
        top = np.argsort(-probabilities, axis=1, kind="stable")[:, :TOP_K]
        said = set(zip(train["speaker"], train["word"]))
        new_word = np.array([(s, w) not in said for s, w in zip(validation["speaker"], validation["word"])], bool)
        right = top[:, 0] == y
        return {
            "top1": float(right.mean()),
            f"top{TOP_K}": float((top == y[:, None]).any(axis=1).mean()),
            "top1_new_word": float(right[new_word].mean()) if new_word.any() else None,  # JSON has no NaN
            "new_word_clips": int(new_word.sum()),
        }

    def write_submission(self, path: Path, fnames: pd.Series, labels: np.ndarray, sample: Path,
                         classes: Sequence[str] | None = None) -> pd.DataFrame:
        log.info("the competition's test clips were recorded by other people than its training clips: %s names, "
                 "for each, the known speaker whose voice is nearest, not a speaker you can score", path.name)
        if classes is None:
            raise ValueError("the speakers task's classes come from the model: pass its labels as classes")
        return write_checked(path, fnames, labels, sample, "speaker", classes, "speakers trained on")
