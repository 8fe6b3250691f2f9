"""--stage refit: the validated recipe on training and validation clips together, its own submission, and
nothing of the validated run changed."""
import dataclasses
import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from competition import PipelineError, stages
from competition.core.paths import Paths, default_submission
from competition.train.data import StackedRows


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def refitted(finished_run, tmp_path_factory):
    source, settings = finished_run
    root = tmp_path_factory.mktemp("refit")
    shutil.copytree(source.work_dir, root / "work")
    # the submission stays where predict wrote it (its manifest names it); only the work folder is copied
    validated = Paths(input_dir=source.input_dir, work_dir=root / "work", output=source.output)
    before = _digests(validated.model_dir)
    refit = Paths(input_dir=source.input_dir, work_dir=root / "work", output=root / "submission-refit.csv")
    stages.run("refit", refit, settings)
    return validated, refit, settings, before


def test_refit_trains_on_training_and_validation_clips_for_the_epochs_validation_chose(refitted):
    validated, refit, settings, _ = refitted
    history = pd.read_csv(validated.model_dir / "history.csv")
    chosen = int(history.loc[history["val_balanced_accuracy"].idxmax(), "epoch"])
    metrics = json.loads(refit.refitted.metrics_json.read_text())
    assert metrics["validated"] is False and metrics["epochs"] == [chosen]
    readable = sum(int(pd.read_csv(validated.feature_table(split))["readable"].sum())
                   for split in ("train", "validation"))
    assert metrics["training_clips"] == readable
    refit_history = pd.read_csv(refit.refitted.history_csv)
    assert list(refit_history["epoch"]) == list(range(1, chosen + 1))
    assert refit_history["val_balanced_accuracy"].isna().all()  # it has no validation of its own
    assert metrics["validated_model"] == json.loads(validated.metrics_json.read_text())


def test_refit_carries_the_validated_decision_and_writes_its_own_submission(refitted):
    validated, refit, _, _ = refitted
    ours = json.loads(refit.refitted.inference_config.read_text())
    theirs = json.loads(validated.inference_config.read_text())
    # the refit model listens with its own scores: its operating points were measured with the validated head
    assert ours.pop("listen_members") == [] and theirs.pop("listen_members")
    assert ours == theirs  # the same decision threshold, shifts and member names, in the refit folder
    assert refit.refitted.model_file.parent != validated.model_file.parent
    assert not np.array_equal(np.load(refit.refitted.probabilities), np.load(validated.probabilities))
    submission, original = pd.read_csv(refit.output), pd.read_csv(validated.output)
    assert list(submission.columns) == ["fname", "label"]
    assert list(submission["fname"]) == list(original["fname"])


def test_refit_leaves_the_validated_run_as_it_was(refitted):
    validated, _, settings, before = refitted
    assert _digests(validated.model_dir) == before
    for stage in stages.STAGES:
        assert stages.staleness(stage, validated, settings) is None, stage.name


def test_refit_with_another_recipe_is_refused_and_names_the_setting(refitted):
    _, refit, settings, _ = refitted
    other = dataclasses.replace(settings, learning_rate=settings.learning_rate * 2)
    with pytest.raises(PipelineError, match="learning_rate"):
        stages.run("refit", refit, other)


def test_refit_submission_has_its_own_default_name():
    assert default_submission(False).name == "submission.csv"
    assert default_submission(False, refit=True).name == "submission-refit.csv"
    assert default_submission(True, "words", refit=True).name == "demo_words-submission-refit.csv"


def test_stacked_rows_read_like_the_arrays_one_after_another():
    first, second = np.arange(12.0).reshape(4, 3), np.arange(100.0, 106.0).reshape(2, 3)
    stacked = StackedRows(first, second)
    rows = np.array([5, 0, 3, 4, 1])
    assert stacked.shape == (6, 3) and len(stacked) == 6
    assert np.array_equal(stacked[rows], np.concatenate([first, second])[rows])
