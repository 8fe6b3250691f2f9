"""--listen: slide the trained model over a recording or a live stream and report the commands.

The loop itself (windows, batches, the recogniser) is the device's (device.listening), so the
pipeline and a device hear the same commands; here the windows are scored through
`Predictor.probabilities_of_clips`, so any engine works, whatever it reads. Test-time shifts are
off: the windows already slide, a hop apart, and the recogniser averages them.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import BinaryIO

from .. import PipelineError
from ..core.config import ListenConfig
from ..core.paths import Paths
from ..device.listening import Listening, batches, detections_csv
from ..device.operating_point import resolve
from ..inference.predictor import Predictor
from .sources import STDIN, open_source

__all__ = ["Listener", "batches", "detections_csv"]

log = logging.getLogger(__name__)


class Listener(Listening):
    """One pass over one source with the model trained in the work folder."""

    def __init__(self, paths: Paths, config: ListenConfig, source: str | Path, stdin: BinaryIO | None = None,
                 predictor: Predictor | None = None) -> None:
        opened = open_source(source, stdin)  # a bad file fails before the model loads
        self.predictor = predictor or Predictor.load(paths, config.engine, listening=True)
        audio = self.predictor.config.audio  # what the model was trained on, not what today's flags say
        task = self.predictor.task
        if task.silence_label is None or task.unknown_label is None:
            raise PipelineError(f"--listen needs a model of a task with silence and unknown classes (commands), so "
                                f"that background and other words are not taken for a class; {paths.model_dir} "
                                f"holds a model of task {task.name}: drop --task {task.name}")
        labels = self.predictor.labels
        commands = [label for label in labels if label not in (task.silence_label, task.unknown_label)]
        config, operating_point = resolve(config, paths.operating_points)
        log.info("operating point: %s", operating_point)
        super().__init__(opened, str(source) == STDIN,
                         lambda windows: self.predictor.probabilities_of_clips(windows, shifts=(0,)),
                         audio.sample_rate, audio.clip_samples, labels, commands, config)
