"""The competition: 10 commands, silence and unknown; an unknown threshold; fname,label submissions."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .. import PipelineError
from ..core.io import atomic_path
from ..core.labels import LABELS, SILENCE_LABEL, UNKNOWN_LABEL, word_to_label
from ..core.metrics import balanced_accuracy
from ..device.model import decide
from .base import HELD_OUT_SPEAKERS

# Candidate confidence thresholds below which a command or silence prediction becomes "unknown".
UNKNOWN_THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclasses.dataclass(frozen=True)
class CommandsTask:
    name: str = "commands"
    labels: tuple[str, ...] = LABELS
    submission_columns: tuple[str, ...] = ("fname", "label")
    silence_label: str | None = SILENCE_LABEL  # prepare plans silence clips of this class
    unknown_label: str | None = UNKNOWN_LABEL  # auxiliary and held-out words become this class
    held_out: str = HELD_OUT_SPEAKERS
    verifies: bool = False

    def label_of(self, word: str, speaker: str) -> str:
        return word_to_label(word)

    def classes(self, training_labels: Iterable[str]) -> tuple[str, ...]:
        return self.labels

    def fallback_label(self, labels: Sequence[str]) -> str:
        # Kaggle rejects a submission with missing rows, so an unreadable test clip still gets a
        # label; an empty or broken recording is most often silence.
        return SILENCE_LABEL

    def calibrate(self, probabilities: np.ndarray, y: np.ndarray,
                  enabled: bool = True) -> tuple[float, dict[float, float]]:
        """The unknown threshold with the best balanced accuracy on held-out speakers (the lowest
        on a tie), never chosen on test labels; 0 when calibration is off."""
        scores = {t: balanced_accuracy(y, self.decide(probabilities, t), len(self.labels)) for t in UNKNOWN_THRESHOLDS}
        threshold = max(scores, key=lambda t: (scores[t], -t)) if enabled else 0.0
        return threshold, scores

    def decide(self, probabilities: np.ndarray, threshold: float, labels: Sequence[str] | None = None) -> np.ndarray:
        """Argmax, except that a prediction less confident than `threshold` becomes unknown.
        `labels`: the class order of the model (its labels file), the task's own by default."""
        return decide(probabilities, threshold, self.labels if labels is None else labels, self.unknown_label)

    def evaluate(self, probabilities: np.ndarray, y: np.ndarray, validation: pd.DataFrame,
                 train: pd.DataFrame) -> dict[str, float]:
        return {}

    def check_submission(self, submission: pd.DataFrame, sample: pd.DataFrame, where: Path) -> None:
        """Raise unless `submission` has exactly the sample's file names, once each, with valid labels."""
        columns = list(self.submission_columns)
        if list(submission.columns) != columns:
            raise PipelineError(f"{where}: expected columns {','.join(columns)}; "
                                f"found {','.join(map(str, submission.columns))}")
        problems = []
        duplicated = submission["fname"][submission["fname"].duplicated()].unique()
        if len(duplicated):
            problems.append(f"{len(duplicated)} file names appear more than once (e.g. {list(duplicated[:3])})")
        expected, found = set(sample["fname"]), set(submission["fname"])
        if missing := sorted(expected - found):
            problems.append(f"{len(missing)} file names of sample_submission.csv are missing (e.g. {missing[:3]})")
        if extra := sorted(found - expected):
            problems.append(f"{len(extra)} file names are not in sample_submission.csv (e.g. {extra[:3]})")
        if bad := sorted(set(submission["label"].astype(str)) - set(self.labels)):
            problems.append(f"labels outside the {len(self.labels)} competition labels: {bad[:5]}")
        if problems:
            raise PipelineError(
                f"{where}: submission has {len(submission)} rows, sample_submission.csv has "
                f"{len(sample)}; " + "; ".join(problems)
            )

    def write_submission(self, path: Path, fnames: pd.Series, labels: np.ndarray, sample: Path,
                         classes: Sequence[str] | None = None) -> pd.DataFrame:
        """The one submission writer: checked against sample_submission.csv, in its order, atomic."""
        submission = pd.DataFrame({"fname": fnames, "label": labels})
        expected = pd.read_csv(sample)
        self.check_submission(submission, expected, path)
        # Kaggle does not need the sample's order, but keeping it makes diffs between runs readable.
        submission = submission.set_index("fname").loc[expected["fname"]].reset_index()
        with atomic_path(path) as temp:
            submission.to_csv(temp, index=False)
        return submission
