"""A trained model ready to answer: its members loaded by an engine, the class order, the
test-time shifts and the task's calibrated decision."""
from __future__ import annotations

import dataclasses

import numpy as np

from ..core.config import cached_representation
from ..core.labels import read_labels
from ..core.paths import Paths
from ..frontend.spectral import clip_features
from ..tasks import Task, get_task
from .config import InferenceConfig
from .engines import get_engine
from .ensemble import Member, predict_probabilities


@dataclasses.dataclass
class Predictor:
    members: list[Member]
    labels: list[str]
    config: InferenceConfig
    task: Task

    @classmethod
    def load(cls, paths: Paths, engine: str, listening: bool = False) -> Predictor:
        """`listening`: the members with the listening head, whose command scores --listen thresholds
        (models.open_set), where the model has them."""
        config = InferenceConfig.load(paths.inference_config)
        task = get_task(config.task)
        labels = read_labels(paths.labels_file, task.labels)
        return cls(get_engine(engine).load(paths, config, listening), labels, config, task)

    @property
    def takes_audio(self) -> bool:
        """Whether the members read clips of audio (an exported model) rather than cached features."""
        return bool(getattr(self.members[0], "takes_audio", False))

    def probabilities(self, x, batch_size: int = 512, progress: str | None = None,
                      shifts: tuple[int, ...] | None = None) -> np.ndarray:
        """Rows of what the members read (cached features, or clips for an audio engine: an array,
        a memory map or any sliceable), a batch at a time -> (n, classes) probabilities.

        `shifts` are in rows of the cached features (default: the trained test-time shifts); for
        audio they become the same time in samples, zero-filled.
        """
        shifts = self.config.audio_shifts(shifts) if self.takes_audio else (
            self.config.tta_shifts if shifts is None else tuple(shifts))
        return predict_probabilities(self.members, x, shifts, len(self.labels), batch_size, progress)

    def probabilities_of_clips(self, clips: np.ndarray, shifts: tuple[int, ...] | None = None,
                               batch_size: int = 512, progress: str | None = None) -> np.ndarray:
        """(n, clip_samples) float32 clips at the trained sample rate -> (n, classes) probabilities.

        Each engine gets what it reads: the front end's features, through the cache dtype as in
        training, or the audio itself.
        """
        x = np.asarray(clips, np.float32)
        if not self.takes_audio:
            x = clip_features(x, self.config.audio, cached_representation(self.config.features))
            x = x.astype(self.config.feature_dtype).astype(np.float32)
        return self.probabilities(x, batch_size, progress, shifts)

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        """Label names under the calibrated threshold."""
        return np.array(self.labels)[self.task.decide(probabilities, self.config.unknown_threshold, self.labels)]
