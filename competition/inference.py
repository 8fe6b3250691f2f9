"""Stage 5, predict: batched inference over every test clip into a checked submission.csv."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from . import PipelineError
from .config import Paths, Settings
from .features import FeatureRows
from .io_utils import atomic_path
from .labels import LABELS, SILENCE_LABEL, read_labels
from .prediction import predict_probabilities

log = logging.getLogger(__name__)

PREDICT_BATCH = 512
# Kaggle rejects a submission with missing rows, so an unreadable test clip still gets a
# label; an empty or broken recording is most often silence.
FALLBACK_LABEL = SILENCE_LABEL


def check_submission(submission: pd.DataFrame, sample: pd.DataFrame, where: Path) -> None:
    """Raise unless `submission` has exactly the sample's file names, once each, with valid labels."""
    if list(submission.columns) != ["fname", "label"]:
        raise PipelineError(f"{where}: expected columns fname,label; found {','.join(map(str, submission.columns))}")
    problems = []
    duplicated = submission["fname"][submission["fname"].duplicated()].unique()
    if len(duplicated):
        problems.append(f"{len(duplicated)} file names appear more than once (e.g. {list(duplicated[:3])})")
    expected, found = set(sample["fname"]), set(submission["fname"])
    if missing := sorted(expected - found):
        problems.append(f"{len(missing)} file names of sample_submission.csv are missing (e.g. {missing[:3]})")
    if extra := sorted(found - expected):
        problems.append(f"{len(extra)} file names are not in sample_submission.csv (e.g. {extra[:3]})")
    if bad := sorted(set(submission["label"].astype(str)) - set(LABELS)):
        problems.append(f"labels outside the 12 competition labels: {bad[:5]}")
    if problems:
        raise PipelineError(
            f"{where}: submission has {len(submission)} rows, sample_submission.csv has "
            f"{len(sample)}; " + "; ".join(problems)
        )


def predict(paths: Paths, settings: Settings) -> None:
    import keras  # TensorFlow loads only for the stages that need it

    from . import models  # noqa: F401  registers the custom layers the saved models use
    from .training import apply_unknown_threshold

    labels = read_labels(paths.labels_file)
    config = json.loads((paths.model_dir / "predict_config.json").read_text())
    members = [keras.models.load_model(paths.model_dir / name) for name in config["members"]]
    features = FeatureRows(paths.features_dir / "test.npy")  # streamed: memory stays at one batch
    table = pd.read_csv(paths.features_dir / "test.csv")
    if len(table) != len(features):
        raise PipelineError(f"{paths.features_dir}: test.npy and test.csv disagree; rerun --stage features")
    if tuple(members[0].input_shape[1:]) != features.shape[1:]:
        raise PipelineError(f"{paths.features_dir / 'test.npy'} holds features of shape {features.shape[1:]}, but "
                            f"the model in {paths.model_dir} reads {tuple(members[0].input_shape[1:])}; "
                            "run --stage features with the flags the model was trained with")
    log.info("%d model(s), test-time shifts %s rows, unknown below confidence %.2f",
             len(members), config["tta_shifts"], config["unknown_threshold"])

    probabilities = predict_probabilities(members, features, config["tta_shifts"], PREDICT_BATCH, progress="predict")
    predicted = apply_unknown_threshold(probabilities, config["unknown_threshold"], labels)
    submission = pd.DataFrame({"fname": table["fname"], "label": np.array(labels)[predicted]})
    unreadable = ~table["readable"].to_numpy(bool)
    if unreadable.any():
        submission.loc[unreadable, "label"] = FALLBACK_LABEL
        log.warning("%d unreadable test clips get the fallback label %r (listed by the features stage)",
                    int(unreadable.sum()), FALLBACK_LABEL)
    sample = pd.read_csv(paths.sample_submission)
    check_submission(submission, sample, paths.output)
    # Kaggle does not need the sample's order, but keeping it makes diffs between runs readable.
    submission = submission.set_index("fname").loc[sample["fname"]].reset_index()

    with atomic_path(paths.predict_dir / "probabilities.npy") as temp:
        np.save(temp, probabilities)
    with atomic_path(paths.output) as temp:
        submission.to_csv(temp, index=False)
    counts = submission["label"].value_counts().reindex(labels, fill_value=0)
    log.info("wrote %s: %d rows; predicted labels: %s", paths.output, len(submission),
             ", ".join(f"{k} {v}" for k, v in counts.items()))
