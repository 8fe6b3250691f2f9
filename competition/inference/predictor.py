"""A trained model ready to answer: its members loaded by an engine, the class order, the
test-time shifts and the task's calibrated decision."""
from __future__ import annotations

import dataclasses

import numpy as np

from ..core.labels import read_labels
from ..core.paths import Paths
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
    def load(cls, paths: Paths, engine: str) -> Predictor:
        config = InferenceConfig.load(paths.inference_config)
        task = get_task(config.task)
        labels = read_labels(paths.labels_file, task.labels)
        return cls(get_engine(engine).load(paths.model_dir, config), labels, config, task)

    def probabilities(self, x, batch_size: int = 512, progress: str | None = None) -> np.ndarray:
        return predict_probabilities(self.members, x, self.config.tta_shifts, len(self.labels), batch_size, progress)

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        """Label names under the calibrated threshold."""
        return np.array(self.labels)[self.task.decide(probabilities, self.config.unknown_threshold, self.labels)]
