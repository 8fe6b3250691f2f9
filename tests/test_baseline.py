"""The baseline side stage: pooled-MFCC classifiers on the tiny competition."""
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from competition import PipelineError, stages
from competition.analysis import baseline
from competition.core.config import BASELINE_MODELS, Settings
from competition.core.labels import LABELS, SILENCE_LABEL
from competition.core.paths import Paths
from competition.stages import manifests


@pytest.fixture(scope="module")
def fitted(tiny_competition, tmp_path_factory):
    root = tmp_path_factory.mktemp("baseline")
    paths = Paths(input_dir=tiny_competition, work_dir=root / "work", output=root / "baseline_submission.csv")
    settings = Settings(workers=1, baseline_model="knn")
    stages.run("extract", paths, settings)
    stages.run("prepare", paths, settings)
    broken = sorted(paths.test_audio_dir.glob("*.wav"))[0]
    broken.write_bytes(b"not audio at all")  # after prepare, as a clip damaged on disk would be
    stages.run("baseline", paths, settings)
    return paths, settings, broken.name


def test_results_table_has_every_model_scored_on_validation(fitted):
    paths, _, _ = fitted
    results = pd.read_csv(paths.baseline_dir / "results.csv")
    assert list(results.columns) == baseline.RESULT_COLUMNS
    assert list(results["model"]) == list(BASELINE_MODELS)
    assert results["validation_accuracy"].between(0, 1).all() and (results["fit_seconds"] >= 0).all()
    assert results[baseline.MACRO_COLUMNS].stack().between(0, 1).all()
    # macro scores weigh each class with validation clips the same: their recall is the balanced accuracy
    assert np.allclose(results["validation_macro_recall"], results["validation_balanced_accuracy"])
    # the synthetic words are tone sequences: pooled MFCCs separate them far above chance (1/12)
    assert results["validation_accuracy"].max() > 0.5
    for name, size in zip(results["model"], results["model_bytes"]):
        assert (paths.baseline_dir / f"{name}.joblib").stat().st_size == size


def test_saved_models_predict_competition_labels(fitted):
    paths, _, _ = fitted
    validation = np.load(next(paths.baseline_dir.glob("mfcc-validation-*.npy")))
    for name in BASELINE_MODELS:
        model = joblib.load(paths.baseline_dir / f"{name}.joblib")
        assert set(model.predict(validation[:20])) <= set(LABELS)


def test_submission_is_checked_and_an_unreadable_clip_becomes_silence(fitted):
    paths, _, broken = fitted
    submission = pd.read_csv(paths.output)
    sample = pd.read_csv(paths.sample_submission)
    assert list(submission["fname"]) == list(sample["fname"])
    assert submission.set_index("fname").loc[broken, "label"] == SILENCE_LABEL
    assert set(submission["label"]) <= set(LABELS)


def test_a_rerun_reads_the_cached_features(fitted, monkeypatch, caplog):
    paths, settings, _ = fitted

    def refuse(*args):
        raise AssertionError("features were recomputed")

    monkeypatch.setattr(baseline, "_pooled_chunk", refuse)
    with caplog.at_level("INFO"):
        config = stages.stage_by_name("baseline").configure(settings, paths)
        submission = baseline.write_submission(paths, config, joblib.load(paths.baseline_model("knn")))
    assert "pooled MFCC16k of 40 clips from the cache" in caplog.text
    assert "1 unreadable test clips get the fallback label 'silence'" in caplog.text
    assert len(submission) == 40
    assert len(list(paths.baseline_dir.glob("mfcc-*.npy"))) == 3  # train, validation, test


def test_the_manifest_records_the_submission_model(fitted):
    paths, _, _ = fitted
    manifest = manifests.read(paths, "baseline")
    assert manifest["config"]["baseline_model"] == "knn"
    assert set(manifest["outputs"]) == {"baseline/results.csv"} | {f"baseline/{n}.joblib" for n in BASELINE_MODELS}


def _config(**settings):
    return stages.stage_by_name("baseline").configure(Settings(workers=1, **settings), Paths(Path(), Path(), Path("o")))


def test_every_model_learns_speaker_ids_that_read_as_numbers():
    # the speakers task's labels: a forest's class_weight="balanced" alone fails on 47938606 and 00123
    config = _config()
    rng = np.random.default_rng(0)
    labels = np.array(["47938606", "00123", "0a7c2a8d"])
    y = labels[np.arange(60) % 3]
    x = rng.normal(size=(60, 4)) + (np.arange(60) % 3)[:, None]
    for name in BASELINE_MODELS:
        model = baseline.fit_model(name, baseline.make_model(name, config), x, y)
        assert set(model.classes_) == set(labels) and set(model.predict(x)) <= set(labels)


def test_the_forest_weighted_per_clip_is_the_forest_with_balanced_class_weights():
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(200, 4)), rng.choice(LABELS[:4], size=200, p=[0.55, 0.25, 0.15, 0.05])
    ours = baseline.fit_model("forest", baseline.make_model("forest", _config(seed=3)), x, y)
    theirs = RandomForestClassifier(n_estimators=100, min_samples_leaf=3, class_weight="balanced", n_jobs=1,
                                    random_state=3).fit(x, y)
    probe = rng.normal(size=(300, 4))
    assert np.array_equal(ours.predict_proba(probe), theirs.predict_proba(probe))


def test_an_unknown_model_name_is_refused_with_the_choices():
    with pytest.raises(PipelineError, match="--baseline-model must be one of knn, logreg, forest, linear-svm, "
                                            "boosting; got 'svm'"):
        Settings(baseline_model="svm")


def test_baseline_without_prepare_says_which_stage_to_run(tmp_path):
    paths = Paths(input_dir=tmp_path / "input", work_dir=tmp_path / "work", output=tmp_path / "out.csv")
    with pytest.raises(PipelineError, match="run --stage extract first"):
        stages.run("baseline", paths, Settings(workers=1))
