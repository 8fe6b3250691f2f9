"""Stage 4, train: fit registry models on cached features, keep each one's best-on-validation
checkpoint, then calibrate the task's decision on held-out speakers and words."""
from __future__ import annotations

import logging

from ..core.cluster import is_chief, worker_task
from ..core.config import TrainConfig
from ..core.labels import write_labels
from ..core.paths import Paths
from ..tasks import HELD_OUT_SPEAKERS, get_task
from .calibration import calibrate_and_report
from .checkpoints import Checkpoint
from .data import readable_rows, training_data
from .loop import train_member
from .strategies import agreed_start, distribution

log = logging.getLogger(__name__)


def train(paths: Paths, config: TrainConfig, fingerprint: dict | None = None) -> None:
    """`fingerprint`: what the run depends on (config, upstream digests); a checkpoint with
    another fingerprint is ignored and training starts over."""
    strategy = distribution(config)  # first: a multi-worker strategy must start before any other TensorFlow op
    chief = is_chief(config.strategy)
    task = get_task(config.task)
    data = training_data(paths, config)
    labels = data["labels"]
    log.info("training on %d clips of %d classes, validating on %d %s clips, %d noise windows for mixing",
             len(readable_rows(data["train"][1])), len(labels), len(data["validation"][0]),
             "held-out-speaker" if task.held_out == HELD_OUT_SPEAKERS else "held-out",
             0 if data["noise"] is None else len(data["noise"]))
    paths.model_dir.mkdir(parents=True, exist_ok=True)
    write_labels(paths.labels_file, labels)
    checkpoint = Checkpoint(paths, fingerprint or {})
    state = agreed_start(strategy, checkpoint.load() or {"member": 0, "epoch": 0, "history": []}, config)
    if state["member"] == 0 and state["epoch"] == 0:
        for stale in [*paths.model_dir.glob("model-*.keras"), *paths.model_dir.glob("listening-model-*.keras")]:
            stale.unlink()  # members of an earlier, larger ensemble
    if not chief:  # an earlier run's model here would be predicted from instead of the chief's
        for stale in [*paths.model_dir.glob("model*.keras"), *paths.model_dir.glob("listening-*.keras"),
                      paths.inference_config, paths.metrics_json,
                      paths.confusion_csv]:
            stale.unlink(missing_ok=True)
    for member in range(state["member"], config.ensemble):
        state = train_member(paths, config, member, data, checkpoint, state, strategy, chief)
    if chief:
        calibrate_and_report(paths, config, labels, *data["validation"])
    else:
        log.info("%s: trained in step with the chief, which writes the model, its calibration and the "
                 "submission in its own work folder", worker_task().describe())
    checkpoint.clear()
