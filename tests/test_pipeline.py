"""The whole pipeline on a tiny synthetic competition, and the manifest logic around it."""
import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest

import run
from competition import PipelineError, stages
from competition.core.config import AudioConfig
from competition.core.labels import LABELS
from competition.core.paths import Paths


def _finished(paths: Paths) -> dict[str, str]:
    return {name: json.loads(paths.manifest(name).read_text())["finished"]
            for name in stages.STAGE_NAMES if paths.manifest(name).exists()}


def test_all_stages_write_a_valid_submission(finished_run, tiny_competition):
    paths, _ = finished_run
    submission = pd.read_csv(paths.output)
    sample = pd.read_csv(paths.sample_submission)
    assert list(submission.columns) == ["fname", "label"]
    assert list(submission["fname"]) == list(sample["fname"])
    assert set(submission["label"]) <= set(LABELS)
    assert (paths.model_dir / "labels.txt").read_text().split() == list(LABELS)
    history = pd.read_csv(paths.model_dir / "history.csv")
    assert list(history["epoch"]) == [1] and "val_accuracy" in history
    metrics = json.loads((paths.model_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["validation_accuracy"] <= 1.0 and metrics["parameters"] > 0
    assert np.load(paths.features_dir / "test.npy").shape == (40, *AudioConfig().feature_shape)


def test_rerunning_all_does_no_work(finished_run, caplog):
    paths, settings = finished_run
    before = _finished(paths)
    with caplog.at_level("INFO"):
        stages.run("all", paths, settings)
    assert _finished(paths) == before
    assert caplog.text.count("up to date, skipped") == len(stages.STAGES)


def test_predict_alone_reuses_the_trained_model(finished_run):
    paths, settings = finished_run
    before = _finished(paths)
    first = paths.output.read_bytes()
    stages.run("predict", paths, settings)
    after = _finished(paths)
    assert after["predict"] != before["predict"]
    assert {k: v for k, v in after.items() if k != "predict"} == {k: v for k, v in before.items() if k != "predict"}
    assert paths.output.read_bytes() == first


def test_a_changed_setting_makes_stale_every_stage_whose_config_holds_it(finished_run):
    paths, settings = finished_run
    changed = dataclasses.replace(settings, audio=AudioConfig(window_ms=30.0))
    stale = {stage.name: stages.staleness(stage, paths, changed) for stage in stages.STAGES}
    # prepare cuts clips of audio.clip_samples, features frames them, train shifts by audio.step_samples
    changed_audio = "settings changed (audio.window_ms)"
    assert stale == {"extract": None, "prepare": changed_audio, "features": changed_audio,
                     "train": changed_audio, "predict": None, "operating": None}  # they wait for train's rerun


def test_settings_that_do_not_shape_outputs_make_nothing_stale(finished_run):
    paths, settings = finished_run
    faster = dataclasses.replace(settings, workers=settings.workers + 3)
    assert all(stages.staleness(stage, paths, faster) is None for stage in stages.STAGES)


def test_a_rerun_upstream_makes_everything_after_it_rerun(tiny_competition, tmp_path, tiny_settings):
    paths = Paths(input_dir=tiny_competition, work_dir=tmp_path / "work", output=tmp_path / "submission.csv")
    stages.run("all", paths, tiny_settings)
    before = _finished(paths)
    changed = dataclasses.replace(tiny_settings, audio=AudioConfig(window_ms=30.0))
    stages.run("all", paths, changed)
    after = _finished(paths)
    assert [name for name in stages.STAGE_NAMES if after[name] != before[name]] == ["prepare", "features", "train",
                                                                                  "predict", "operating"]
    assert np.load(paths.features_dir / "train.npy", mmap_mode="r").shape[1:] == changed.audio.feature_shape

    paths.output.unlink()  # a deleted submission is noticed and rebuilt, nothing else
    stages.run("all", paths, changed)
    assert paths.output.exists()
    rebuilt = _finished(paths)
    assert [name for name in stages.STAGE_NAMES if rebuilt[name] != after[name]] == ["predict"]


def test_same_seed_same_submission(finished_run, tiny_competition, tmp_path):
    paths, settings = finished_run
    again = Paths(input_dir=tiny_competition, work_dir=tmp_path / "again", output=tmp_path / "again.csv")
    stages.run("all", again, settings)
    assert again.output.read_bytes() == paths.output.read_bytes()
    assert np.array_equal(np.load(again.predict_dir / "probabilities.npy"),
                          np.load(paths.predict_dir / "probabilities.npy"))


def test_a_stage_without_its_upstream_says_what_to_run_first(tmp_path, tiny_settings):
    paths = Paths(input_dir=tmp_path / "input", work_dir=tmp_path / "work", output=tmp_path / "submission.csv")
    with pytest.raises(PipelineError,
                       match="stage features needs the output of stage prepare.*run --stage prepare first"):
        stages.run("features", paths, tiny_settings)


def test_an_interrupted_stage_leaves_no_manifest_and_reruns(finished_run, tmp_path, monkeypatch):
    paths, settings = finished_run
    copy = dataclasses.replace(paths, work_dir=tmp_path / "work")
    shutil.copytree(paths.work_dir, copy.work_dir)
    assert all(stages.staleness(stage, copy, settings) is None
               for stage in stages.STAGES)  # a moved folder still serves
    before = _finished(copy)

    def boom(paths, settings):
        raise RuntimeError("killed")
    stage = stages.stage_by_name("features")
    with pytest.raises(RuntimeError):
        stages.run_stage(dataclasses.replace(stage, run=boom), copy, settings)
    assert not copy.manifest("features").exists()
    assert stages.staleness(stage, copy, settings) == "no finished run recorded"
    assert before["prepare"] == _finished(copy)["prepare"]


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "--epochs must be a positive integer; got 0"),
    (["--model", "resnet9000"],
     "--model 'resnet9000' is not in the registry; expected one of bc-resnet, cnn, conv1d, dense, mel-cnn, seed-cnn"),
    (["--silence-share", "1.5"], "--silence-share must be in [0, 1); got 1.5"),
])
def test_bad_settings_exit_with_one_line(argv, message, tmp_path, capsys):
    assert run.main(argv + ["--input-dir", str(tmp_path), "--work-dir", str(tmp_path / "w")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"error: {message}"


def test_missing_archives_exit_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("competition.core.paths.KAGGLE_ROOT", tmp_path / "no-kaggle")
    assert run.main(["--input-dir", str(tmp_path / "empty"), "--work-dir", str(tmp_path / "w")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "competition archives not found" in err[0] and "train.7z" in err[0]


def test_unknown_stage_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run.main(["--stage", "explode"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'explode'" in capsys.readouterr().err


def test_every_flag_has_help_with_its_default(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # one line per flag, whatever the terminal
    with pytest.raises(SystemExit):
        run.parse_args(["--help"])
    text = capsys.readouterr().out
    for flag in ("--stage", "--from", "--input-dir", "--work-dir", "--output", "--seed", "--epochs", "--demo",
                 "--model"):
        assert flag in text
    assert "(default: all)" in text and "(default: 42)" in text


def test_a_cache_that_does_not_match_its_manifest_is_rebuilt(finished_run, tmp_path):
    paths, settings = finished_run
    copy = dataclasses.replace(paths, work_dir=tmp_path / "work", output=tmp_path / "submission.csv")
    shutil.copytree(paths.work_dir, copy.work_dir)
    cache = copy.features_dir / "train.npy"
    cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])  # a half-written cache under its final name
    features = stages.stage_by_name("features")
    assert stages.staleness(features, copy, settings) == f"output {cache} is missing or changed"
    stages.run("all", copy, dataclasses.replace(settings, workers=1), rerun_from=None)
    assert np.load(cache).shape == np.load(paths.features_dir / "train.npy").shape
    assert copy.output.read_bytes() == paths.output.read_bytes()
