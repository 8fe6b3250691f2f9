"""After training: the task's decision calibrated on validation (never on test labels), the listening
models (train.listening_head), and the saved members' validation scores, confusion matrix and metrics
with predict's test-time shifts."""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from ..core.config import TrainConfig
from ..core.io import atomic_path, atomic_write_json
from ..core.metrics import balanced_accuracy, confused_pairs
from ..core.paths import Paths
from ..inference.config import InferenceConfig
from ..inference.engines import get_engine
from ..inference.ensemble import predict_probabilities, tta_shifts
from ..tasks import HELD_OUT_SPEAKERS, get_task
from .data import read_feature_table
from .listening_head import write_listening_models
from .unseen import verify_unseen_speakers

log = logging.getLogger(__name__)

# A task with more classes (words, speakers) logs its most confused pairs instead of the whole matrix.
LOGGED_MATRIX_CLASSES = 12


def calibrate_and_report(paths: Paths, config: TrainConfig, labels: list[str], x_val: np.ndarray,
                         y_val: np.ndarray) -> None:
    """Choose the task's decision threshold on held-out speakers (never on test labels) and report
    the saved checkpoints' validation scores with the same test-time shifts predict uses."""
    task = get_task(config.task)
    inference = InferenceConfig(
        task=task.name, members=tuple(paths.member_file(m).name for m in range(config.ensemble)),
        tta_shifts=tta_shifts(config.tta, config.features, config.audio), unknown_threshold=0.0,
        features=config.features, feature_dtype=config.feature_dtype, audio=config.audio)
    # the saved best checkpoints, loaded as predict will load them
    members = get_engine("keras").load(paths, inference)
    probabilities = predict_probabilities(members, x_val, inference.tta_shifts, len(labels))
    threshold, scores = task.calibrate(probabilities, y_val, config.calibrate_unknown)
    predicted = task.decide(probabilities, threshold, labels)
    accuracy = float((predicted == y_val).mean())
    balanced = balanced_accuracy(y_val, predicted, len(labels))
    matrix = pd.DataFrame(confusion_matrix(y_val, predicted, labels=range(len(labels))),
                          index=pd.Index(labels, name="true"), columns=labels)
    per_class = {label: float(matrix.loc[label, label] / max(matrix.loc[label].sum(), 1)) for label in labels}
    with atomic_path(paths.confusion_csv) as temp:
        matrix.to_csv(temp)
    listening = write_listening_models(paths, config, labels, members)
    dataclasses.replace(inference, unknown_threshold=threshold, listen_members=listening).save(paths.inference_config)
    readable = {split: read_feature_table(paths, split).query("readable") for split in ("train", "validation")}
    task_scores = task.evaluate(probabilities, y_val, readable["validation"], readable["train"])
    if task.verifies and (verification := verify_unseen_speakers(paths, config, members)) is not None:
        task_scores["verification"] = verification.summary()
    atomic_write_json(paths.metrics_json, {
        "validation_accuracy": accuracy, "validation_balanced_accuracy": balanced,
        "validation_balanced_accuracy_by_threshold": {str(t): s for t, s in scores.items()},
        "unknown_threshold": threshold, "validation_clips": int(len(y_val)), "per_class_accuracy": per_class,
        "parameters": int(members[0].count_params()),
        "model_bytes": sum(paths.member_file(m).stat().st_size for m in range(config.ensemble)),
        **({"task_scores": task_scores} if task_scores else {}),
    })
    if len(scores) > 1:
        log.info("unknown threshold %.2f chosen on validation (balanced accuracy by threshold: %s)", threshold,
                 ", ".join(f"{t}: {s:.4f}" for t, s in scores.items()))
    log.info("%s validation: accuracy %.4f, balanced over the %d labels %.4f (%d clips)",
             "held-out-speaker" if task.held_out == HELD_OUT_SPEAKERS else "held-out-clip", accuracy, len(labels),
             balanced, len(y_val))
    if len(labels) <= LOGGED_MATRIX_CLASSES:
        log.info("confusion matrix (rows: true, columns: predicted):\n%s", matrix.to_string())
    else:
        log.info("most confused pairs:\n%s", confused_pairs(matrix, LOGGED_MATRIX_CLASSES).to_string(index=False))
    if numbers := {name: value for name, value in task_scores.items() if isinstance(value, int | float)}:
        log.info("validation, the task's own scores: %s", ", ".join(f"{k} {v:.4g}" for k, v in numbers.items()))
