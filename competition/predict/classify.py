"""--classify: label WAV files of any rate, channel count or length with the trained model(s)."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from ..core.config import Settings
from ..core.paths import Paths
from ..device.classify import Classified, classify_each
from ..frontend.audio import load_clip
from ..inference.predictor import Predictor

__all__ = ["Classified", "classify"]

log = logging.getLogger(__name__)


def classify(paths: Paths, settings: Settings, files: list[Path]) -> Iterator[Classified]:
    """One result per file, in order (device.classify.classify_each)."""
    predictor = Predictor.load(paths, settings.engine)
    audio = predictor.config.audio  # what the model was trained on, not what today's flags say
    yield from classify_each(files, lambda path: load_clip(path, audio), predictor.probabilities_of_clips,
                             predictor.decide, predictor.labels)
