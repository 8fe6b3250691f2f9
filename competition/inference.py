"""Stage 5, predict: batched inference over every test clip into a checked submission.csv."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from . import PipelineError
from .config import Paths, Settings
from .io_utils import atomic_path
from .labels import LABELS, read_labels

log = logging.getLogger(__name__)

PREDICT_BATCH = 512


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

    labels = read_labels(paths.labels_file)
    model = keras.models.load_model(paths.model_file)
    features = np.load(paths.features_dir / "test.npy", mmap_mode="r")
    table = pd.read_csv(paths.features_dir / "test.csv")
    if len(table) != len(features):
        raise PipelineError(f"{paths.features_dir}: test.npy and test.csv disagree; rerun --stage features")

    probabilities = np.zeros((len(features), len(labels)), dtype=np.float32)
    for start in tqdm(range(0, len(features), PREDICT_BATCH), desc="predict", unit="batch"):
        batch = np.asarray(features[start:start + PREDICT_BATCH], dtype=np.float32)
        probabilities[start:start + len(batch)] = model.predict_on_batch(batch)

    submission = pd.DataFrame({"fname": table["fname"], "label": np.array(labels)[probabilities.argmax(axis=1)]})
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
