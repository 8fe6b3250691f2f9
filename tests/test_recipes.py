"""Recipes (--config FILE.toml, and the recipe.toml each run writes), fingerprints that survive a new
setting at its default, the 8 kHz recipe as one setting, and the command line's refusal of abbreviations."""
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import run
from competition import PipelineError, stages
from competition.core.config import AudioConfig, FeaturesConfig, Settings, TrainConfig, fingerprint, project
from competition.core.flags import read_recipe, settings_from_args, write_recipe
from competition.core.paths import Paths
from competition.frontend.layers import LogMel
from competition.stages import manifests

REPO = Path(__file__).resolve().parents[1]


def _settings(argv: list[str], recipe_text: str | None, tmp_path: Path) -> Settings:
    if recipe_text is not None:
        (tmp_path / "recipe.toml").write_text(recipe_text)
        argv = ["--config", str(tmp_path / "recipe.toml"), *argv]
    args = run.parse_args(argv)
    return settings_from_args(args, recipe=read_recipe(args.config, run.REGISTRY_CHOICES) if args.config else None)


def test_a_recipe_sets_settings_and_the_command_line_wins(tmp_path):
    recipe = 'epochs = 12\nsample-rate = 8000\nholdout-words = ["dog", "wow"]\ntta = false\nlearning-rate = 1\n'
    settings = _settings([], recipe, tmp_path)
    assert (settings.epochs, settings.sample_rate, settings.holdout_words, settings.tta) == (12, 8000, ("dog", "wow"),
                                                                                           False)
    assert settings.learning_rate == 1.0 and isinstance(settings.learning_rate, float)
    assert settings.audio.target_rate == 8000  # the stages read the rate through the audio sizes
    assert _settings(["--epochs", "3", "--tta"], recipe, tmp_path).epochs == 3
    assert _settings(["--epochs", "3", "--tta"], recipe, tmp_path).tta is True


@pytest.mark.parametrize("text, message", [
    ("epoch = 5\n", r"'epoch' is not a setting; did you mean epochs\?"),
    ("epochs = 'five'\n", r"epochs = 'five' is not a whole number"),
    ("tta = 1\n", r"tta = 1 is not true or false"),
    ("holdout-words = [1, 2]\n", r"holdout-words = \[1, 2\] is not a list of strings"),
    ("engine = 'onnx'\n", r"engine = 'onnx' is not one of keras, tflite, tflite-int8"),
    ("task = 'birds'\n", r"task = 'birds' is not one of commands, speakers, words"),
    ("epochs = \n", "not a TOML recipe"),
    ("sample-rate = 11025\n", "sample-rate = 11025 is not one of 8000, 16000"),
])
def test_a_bad_recipe_is_refused_naming_the_file_and_the_key(tmp_path, text, message):
    with pytest.raises(PipelineError, match=message) as error:
        _settings([], text, tmp_path)
    assert str(tmp_path / "recipe.toml") in str(error.value)


def test_a_recipes_features_go_with_its_model_and_another_model_reads_its_own(tmp_path):
    (tmp_path / "recipe.toml").write_text('model = "mel-cnn"\nfeatures = "logspec"\n')
    recipe = read_recipe(tmp_path / "recipe.toml")
    for extra, features in (([], "logspec"), (["--model", "dense"], "mfcc"), (["--model", "mel-cnn"], "logspec"),
                            (["--model", "dense", "--features", "logspec"], "logspec")):
        assert run.chosen_features(run.parse_args(["--config", "recipe.toml", *extra]), recipe) == features


def test_the_written_recipe_reads_back_as_the_same_settings(tmp_path):
    settings = Settings(epochs=7, sample_rate=8000, holdout_words=("tree",), spec_masks=2, workers=1)
    write_recipe(tmp_path / "recipe.toml", settings)
    text = (tmp_path / "recipe.toml").read_text()
    assert "workers" not in text and "baseline-model" not in text  # pace only; no value
    assert 'holdout-words = ["tree"]' in text and "sample-rate = 8000" in text and "tta = true" in text
    again = settings_from_args(run.parse_args([]), recipe=read_recipe(tmp_path / "recipe.toml"), workers=1)
    assert again == settings


def test_a_run_writes_its_recipe_and_the_recipe_alone_reuses_every_stage(tiny_competition, tmp_path):
    work = tmp_path / "work"
    common = [sys.executable, "run.py", "--input-dir", str(tiny_competition), "--work-dir", str(work),
              "--output", str(tmp_path / "submission.csv")]
    first = subprocess.run([*common, "--epochs", "1", "--batch-size", "32", "--workers", "1", "--seed", "3"],
                           cwd=REPO, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    recipe = work / "recipe.toml"
    assert "seed = 3" in recipe.read_text() and "epochs = 1" in recipe.read_text()
    again = subprocess.run([*common, "--config", str(recipe)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stderr.count("up to date, skipped") == len(stages.STAGES), again.stderr[-2000:]


def test_a_setting_added_at_its_default_leaves_a_finished_run_up_to_date(finished_run, tmp_path):
    paths, settings = finished_run
    manifest = json.loads(paths.manifest("train").read_text())
    try:
        del manifest["config"]["spec_masks"]  # as if the run was made before the setting existed
        del manifest["config"]["audio"]["step_ms"]
        paths.manifest("train").write_text(json.dumps(manifest))
        train = stages.stage_by_name("train")
        assert stages.staleness(train, paths, settings) is None
        assert stages.staleness(train, paths, dataclasses.replace(settings, spec_masks=2)) == \
            "settings changed (spec_masks)"
        longer_step = dataclasses.replace(settings, audio=AudioConfig(step_ms=12.5))
        assert stages.staleness(train, paths, longer_step) == "settings changed (audio.step_ms)"
    finally:
        manifest["config"]["spec_masks"], manifest["config"]["audio"]["step_ms"] = settings.spec_masks, 10.0
        paths.manifest("train").write_text(json.dumps(manifest))


def test_a_setting_the_record_has_but_the_pipeline_no_longer_has_makes_it_stale():
    wanted = {"epochs": 40}
    assert manifests.changed_settings(wanted, {"epochs": 40, "mixup": 0.2}, wanted) == ["mixup"]
    assert manifests.changed_settings(wanted, {}, {"epochs": 40}) == []
    assert manifests.changed_settings({"epochs": 30}, {}, {"epochs": 40}) == ["epochs"]


def test_the_8khz_recipe_is_one_setting_that_every_audio_stage_fingerprints():
    narrow = Settings(sample_rate=8000)
    assert narrow.audio == AudioConfig(target_rate=8000) and narrow.audio.feature_shape == (99, 81)
    for config in (FeaturesConfig, TrainConfig):
        assert fingerprint(project(config, narrow))["audio"]["target_rate"] == 8000
        assert fingerprint(project(config, narrow)) != fingerprint(project(config, Settings()))


def test_abbreviated_flags_are_refused(capsys):
    with pytest.raises(SystemExit):
        run.parse_args(["--epoch", "5"])
    assert "unrecognized arguments: --epoch 5" in capsys.readouterr().err


def test_help_groups_the_flags_by_concern(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit):
        run.parse_args(["--help"])
    text = capsys.readouterr().out
    titles = ["running the stages:", "commands instead of stages", "what to learn, and the data:", "features:",
              "model and training:", "augmentation:", "prediction:", "listening (--listen, --stage operating):"]
    places = [text.index(f"\n{title}") for title in titles]
    assert places == sorted(places)
    assert text.index("\n  --sample-rate") > text.index("\nfeatures:") > text.index("\n  --seed")


def test_the_8khz_recipe_runs_end_to_end(tiny_competition, tmp_path):
    paths = Paths(input_dir=tiny_competition, work_dir=tmp_path / "work", output=tmp_path / "submission.csv")
    stages.run("all", paths, Settings(sample_rate=8000, epochs=1, batch_size=32, workers=1))
    assert np.load(paths.feature_cache("test"), mmap_mode="r").shape[1:] == (99, 81)
    model = keras.models.load_model(paths.model_file)
    assert next(layer for layer in model.layers if isinstance(layer, LogMel)).sample_rate == 8000
    assert len(paths.output.read_text().splitlines()) == 41  # a header and the forty test clips
    assert json.loads(paths.inference_config.read_text())["audio"]["target_rate"] == 8000
