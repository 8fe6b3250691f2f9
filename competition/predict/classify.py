"""--classify: label WAV files of any rate, channel count or length with the trained model(s)."""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..core.config import Settings
from ..core.paths import Paths
from ..frontend.audio import AudioError, load_clip
from ..inference.predictor import Predictor

log = logging.getLogger(__name__)

TOP = 3


@dataclasses.dataclass(frozen=True)
class Classified:
    path: Path
    label: str | None = None
    top: tuple[tuple[str, float], ...] = ()
    error: str | None = None

    def line(self) -> str:
        if self.error:
            return f"error: {self.error}"
        return f"{self.path}: {self.label} ({', '.join(f'{label} {p:.3f}' for label, p in self.top)})"


def classify(paths: Paths, settings: Settings, files: list[Path]) -> Iterator[Classified]:
    """One result per file, in order; a file that is not usable audio gives an error result
    and the others go on."""
    predictor = Predictor.load(paths, settings.engine)
    audio = predictor.config.audio  # what the model was trained on, not what today's flags say
    for path in map(Path, files):
        if not path.is_file():
            yield Classified(path, error=f"{path}: no such file")
            continue
        try:
            clip = load_clip(path, audio)
        except AudioError as error:
            yield Classified(path, error=str(error))
            continue
        probabilities = predictor.probabilities_of_clips(clip[None])
        label = str(predictor.decide(probabilities)[0])
        order = np.argsort(probabilities[0])[::-1][:TOP]
        yield Classified(path, label, tuple((predictor.labels[i], float(probabilities[0, i])) for i in order))
