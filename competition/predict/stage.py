"""Stage 5, predict: batched inference over every test clip into a checked submission."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .. import PipelineError
from ..core.config import PredictConfig
from ..core.io import atomic_path
from ..core.paths import Paths
from ..data.features import ClipRows, FeatureRows, read_feature_table, table_sources
from ..inference.predictor import Predictor

log = logging.getLogger(__name__)

PREDICT_BATCH = 512
LOGGED_COUNTS = 12  # a task with more classes (speakers) logs only its most predicted ones


def predict(paths: Paths, config: PredictConfig) -> None:
    predictor = Predictor.load(paths, config.engine)
    if predictor.task.name != config.task:
        raise PipelineError(f"the model in {paths.model_dir} was trained for task {predictor.task.name}, "
                            f"not {config.task}; run --stage train with --task {config.task}")
    table = read_feature_table(paths, "test")
    inputs = test_inputs(paths, predictor, table)  # streamed: memory stays at one batch
    log.info("%d model(s) run by %s, test-time shifts %s rows, decision threshold %.2f", len(predictor.members),
             config.engine, list(predictor.config.tta_shifts), predictor.config.unknown_threshold)

    probabilities = predictor.probabilities(inputs, PREDICT_BATCH, progress="predict")
    labels = predictor.decide(probabilities).astype(object)  # room for a longer fallback label
    unreadable = ~table["readable"].to_numpy(bool)
    if unreadable.any():
        labels[unreadable] = fallback = predictor.task.fallback_label(predictor.labels)
        log.warning("%d unreadable test clips get the fallback label %r (listed by the features stage)",
                    int(unreadable.sum()), fallback)
    with atomic_path(paths.probabilities) as temp:
        np.save(temp, probabilities)
    submission = predictor.task.write_submission(paths.output, table["fname"], labels, paths.sample_submission,
                                                 predictor.labels)
    counts = submission[predictor.task.submission_columns[-1]].value_counts().reindex(predictor.labels, fill_value=0)
    if len(counts) > LOGGED_COUNTS:
        shown = counts.sort_values(ascending=False, kind="stable").head(LOGGED_COUNTS)
    else:
        shown = counts
    log.info("wrote %s: %d rows; predicted labels%s: %s", paths.output, len(submission),
             "" if len(shown) == len(counts) else f" (the {len(shown)} most predicted of {len(counts)})",
             ", ".join(f"{k} {v}" for k, v in shown.items()))


def test_inputs(paths: Paths, predictor: Predictor, table: pd.DataFrame):
    """What the engine reads for each test row: the clips themselves for an exported model, else
    the feature cache, checked against the model's input."""
    if predictor.takes_audio:
        return ClipRows(table_sources(paths, table), predictor.config.audio)
    features = FeatureRows(paths.feature_cache("test"))
    if len(table) != len(features):
        raise PipelineError(f"{paths.features_dir}: test.npy and test.csv disagree; rerun --stage features")
    model_shape = tuple(predictor.members[0].input_shape[1:])
    if model_shape != features.shape[1:]:
        raise PipelineError(f"{paths.feature_cache('test')} holds features of shape {features.shape[1:]}, but "
                            f"the model in {paths.model_dir} reads {model_shape}; "
                            "run --stage features with the flags the model was trained with")
    return features
