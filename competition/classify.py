"""--classify: label WAV files of any rate, channel count or length with the trained model(s)."""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Iterator

import numpy as np

from . import PipelineError
from .audio import AudioError, load_clip
from .config import Paths, Settings
from .features import clip_features
from .labels import read_labels

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


def load_classifier(paths: Paths) -> tuple[list, list[str], dict]:
    """The members listed in predict_config.json, the class order and the config itself."""
    config_file = paths.model_dir / "predict_config.json"
    if not config_file.exists():
        raise PipelineError(f"{config_file} is missing: run --stage train first (with this --work-dir)")
    import keras

    from . import models  # noqa: F401  registers the custom layers the saved models use

    labels = read_labels(paths.labels_file)
    config = json.loads(config_file.read_text())
    members = []
    for name in config["members"]:
        if not (paths.model_dir / name).exists():
            raise PipelineError(f"{paths.model_dir / name} (listed in {config_file}) is missing: run --stage train again")
        members.append(keras.models.load_model(paths.model_dir / name))
    return members, labels, config


def classify(paths: Paths, settings: Settings, files: list[Path]) -> Iterator[Classified]:
    """One result per file, in order; a file that is not usable audio gives an error result
    and the others go on."""
    from .prediction import predict_probabilities
    from .training import apply_unknown_threshold

    members, labels, config = load_classifier(paths)
    # what the model was trained on, not what today's flags say
    trained = dataclasses.replace(settings, features=config.get("features", settings.features))
    representation, dtype = trained.cached_representation, config.get("feature_dtype", settings.feature_dtype)
    for path in map(Path, files):
        if not path.is_file():
            yield Classified(path, error=f"{path}: no such file")
            continue
        try:
            clip = load_clip(path, settings.audio)
        except AudioError as error:
            yield Classified(path, error=str(error))
            continue
        # through the cache dtype, so the model sees exactly what it saw in training
        features = clip_features(clip, settings.audio, representation).astype(dtype).astype(np.float32)
        probabilities = predict_probabilities(members, features, config["tta_shifts"])
        label = labels[int(apply_unknown_threshold(probabilities, config["unknown_threshold"], labels)[0])]
        order = np.argsort(probabilities[0])[::-1][:TOP]
        yield Classified(path, label, tuple((labels[i], float(probabilities[0, i])) for i in order))
