"""The package's shape: the import contracts, one definition per setting, the registries, and
the typed contract between train and predict."""
import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import run
from competition import PipelineError
from competition.core import config
from competition.core.config import AudioConfig, Settings, fingerprint, project
from competition.core.labels import LABELS
from competition.inference.config import InferenceConfig
from competition.inference.engines import engine_names, get_engine
from competition.stages import SIDE_STAGES, STAGES
from competition.tasks import get_task, task_names

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
RUFF = Path(sys.executable).with_name("ruff")
CONTRACTS = ("Each floor imports only the floors below it",
             "Predicting loads neither the trainer nor scikit-learn",
             "Settings, labels and tasks load no TensorFlow",
             "No import cycles between sibling modules or packages",
             "Operating points (thresholds from kept window scores) load no TensorFlow",
             "The device runtime loads only numpy and LiteRT")


def _lint(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=folder,
                          capture_output=True, text=True, timeout=300)


def test_the_import_contracts_hold():
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout[-3000:]
    for contract in CONTRACTS:
        assert f"{contract} KEPT" in result.stdout
    assert f"{len(CONTRACTS)} kept, 0 broken" in result.stdout


@pytest.mark.parametrize("module, line, contract", [
    ("core/config.py", "from ..stages import runner", CONTRACTS[0]),
    ("data/features.py", "from ..models import registry", CONTRACTS[0]),
    ("predict/stage.py", "from ..train import trainer", CONTRACTS[1]),
    ("inference/ensemble.py", "import sklearn.metrics", CONTRACTS[1]),
    ("tasks/commands.py", "import keras", CONTRACTS[2]),
    ("core/io.py", "from . import labels", CONTRACTS[3]),  # labels already imports io
    ("streaming/operating.py", "import tensorflow", CONTRACTS[4]),
    ("device/resample.py", "import scipy.signal", CONTRACTS[5]),
    ("device/sources.py", "from ..frontend import audio", CONTRACTS[0]),
], ids=["config-imports-a-stage", "data-imports-models", "predict-imports-train",
        "inference-imports-sklearn", "a-task-imports-keras", "a-cycle-in-core", "operating-imports-tensorflow",
        "the-device-imports-scipy", "the-device-imports-the-frontend"])
def test_an_import_against_a_contract_breaks_it(tmp_path, module, line, contract):
    shutil.copytree(REPO / "competition", tmp_path / "competition",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    path = tmp_path / "competition" / module
    path.write_text(path.read_text() + f"\n{line}  # noqa: E402,F401\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert f"{contract} BROKEN" in result.stdout


def test_the_code_passes_ruff():
    """The rules and the 120-column line length the code keeps are in pyproject.toml."""
    result = subprocess.run([str(RUFF), "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]


def test_a_new_subpackage_must_be_given_a_floor(tmp_path):
    shutil.copytree(REPO / "competition", tmp_path / "competition",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    (tmp_path / "competition" / "unplaced").mkdir()
    (tmp_path / "competition" / "unplaced" / "__init__.py").write_text('"""Not on any floor yet."""\n')
    result = _lint(tmp_path)
    assert result.returncode != 0 and f"{CONTRACTS[0]} BROKEN" in result.stdout
    assert "competition.unplaced" in result.stdout


def test_the_command_line_starts_without_tensorflow():
    """--help, --score and the flags' choices need no TensorFlow: it loads where a model runs."""
    code = "import sys, run; run.parse_args([]); print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def test_the_demo_competition_is_made_with_the_run_seed(tmp_path, monkeypatch):
    seeds = []
    monkeypatch.setattr("competition.data.demo.make_demo_competition",
                        lambda folder, seed: seeds.append(seed))
    for argv in ([], ["--seed", "7"]):
        run.main(["--demo", "--stage", "extract", "--input-dir", str(tmp_path / "in"),
                  "--work-dir", str(tmp_path / "work"), *argv])
    assert seeds == [42, 7]


# ---- one definition per setting ------------------------------------------------------------

# --listen is a command, not a stage, but its settings are held the same way (core.config.ListenConfig)
STAGE_CONFIGS = {**{stage.name: stage.config for stage in STAGES + SIDE_STAGES}, "--listen": config.ListenConfig}


def test_every_setting_shapes_some_stage_or_says_it_does_not():
    """A setting no stage config holds would change nothing and invalidate nothing."""
    held = {field.name for cls in STAGE_CONFIGS.values() for field in dataclasses.fields(cls)}
    # a setting carried by a derived field (--sample-rate by the audio sizes) is held where that field is
    settings = {field.metadata.get("through") or field.name for field in dataclasses.fields(Settings)}
    assert settings <= held, f"settings no stage reads: {sorted(settings - held)}"


def test_every_stage_config_field_is_a_setting_or_a_constant_of_its_code():
    for name, cls in STAGE_CONFIGS.items():
        for field in dataclasses.fields(cls):
            from_settings = hasattr(Settings(), field.name) or field.name == "output"
            assert from_settings or field.default is not dataclasses.MISSING, (name, field.name)


def test_a_stage_sees_only_its_config():
    """The runner hands each stage its config, not the settings: reading a setting the config
    does not name fails, rather than shaping an output the fingerprint does not record."""
    features = project(config.FeaturesConfig, Settings(seed=7))
    with pytest.raises(AttributeError):
        features.seed  # noqa: B018
    assert fingerprint(features)["audio"] == dataclasses.asdict(AudioConfig())
    assert "workers" not in fingerprint(features)  # speed only, never the output


def test_every_setting_has_a_flag_with_help_and_its_default(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # one line per flag, whatever the terminal
    with pytest.raises(SystemExit):
        run.parse_args(["--help"])
    blocks = [" ".join(block.split()) for block in capsys.readouterr().out.split("\n  -")]  # one per flag
    for field in dataclasses.fields(Settings):
        if field.metadata["flag"]:
            flag = config.flag_name(field.name)[1:]
            block = next(block for block in blocks if block.startswith(flag))
            assert field.metadata["help"] in block and "(default: " in block, block


def test_flags_reach_the_settings_of_the_same_name():
    args = run.parse_args(["--seed", "5", "--holdout-words", "dog,wow", "--no-tta",
                           "--digital-silence-share", "0.3", "--noise-bank", "50"])
    from competition.core.flags import settings_from_args

    settings = settings_from_args(args)
    assert (settings.seed, settings.holdout_words, settings.tta) == (5, ("dog", "wow"), False)
    assert (settings.digital_silence_share, settings.noise_bank) == (0.3, 50)
    assert settings_from_args(run.parse_args([]), demo=True).epochs == 8
    assert settings_from_args(run.parse_args([])) == Settings()


def test_a_bad_setting_names_its_flag():
    with pytest.raises(PipelineError, match="--digital-silence-share must be in"):
        Settings(digital_silence_share=2.0)
    with pytest.raises(PipelineError, match=r"--listen-hop-ms must be in \(0, 1000\]"):
        Settings(listen_hop_ms=0)
    with pytest.raises(PipelineError, match="--listen-threshold must be in"):
        Settings(listen_threshold=1.5)
    with pytest.raises(PipelineError, match="--feature-dtype must be one of float16, float32"):
        Settings(feature_dtype="int8")


# ---- registries ----------------------------------------------------------------------------

def test_the_task_registry_holds_the_competition_the_words_and_the_speakers():
    assert task_names() == ("commands", "speakers", "words")
    task = get_task("commands")
    assert task.labels == LABELS and task.label_of("dog", "0a1b2c3d") == "unknown"
    assert get_task("words").label_of("dog", "0a1b2c3d") == "dog"
    assert get_task("speakers").label_of("dog", "0a1b2c3d") == "0a1b2c3d" and get_task("speakers").labels is None
    with pytest.raises(PipelineError, match="unknown task 'digits'; expected one of commands, speakers, words"):
        get_task("digits")


def test_the_commands_task_calibrates_and_decides_unknown():
    import numpy as np

    task = get_task("commands")
    unsure = np.full((1, 12), 0.05)
    unsure[0, 0] = 0.45  # "yes", but not sure
    assert task.decide(unsure, 0.0)[0] == 0 and task.decide(unsure, 0.5)[0] == LABELS.index("unknown")
    y = np.array([LABELS.index("unknown")])
    threshold, scores = task.calibrate(unsure, y)
    assert threshold == 0.5 and scores[0.5] == 1.0 and scores[0.0] == 0.0
    assert task.calibrate(unsure, y, enabled=False)[0] == 0.0


def test_the_engine_registry_holds_keras_and_the_exported_files():
    assert engine_names() == ("keras", "tflite", "tflite-int8")
    assert [get_engine(name).name for name in engine_names()] == list(engine_names())
    with pytest.raises(PipelineError, match="unknown engine 'onnx'; expected one of keras, tflite, tflite-int8"):
        get_engine("onnx")


# ---- the contract between train and predict ------------------------------------------------

def _inference_config() -> InferenceConfig:
    return InferenceConfig(task="commands", members=("model.keras",), tta_shifts=(-3, 0, 3),
                           unknown_threshold=0.4, features="logspec", feature_dtype="float16",
                           audio=AudioConfig(window_ms=30.0))


def test_the_inference_config_round_trips(tmp_path):
    _inference_config().save(tmp_path / "predict_config.json")
    assert InferenceConfig.load(tmp_path / "predict_config.json") == _inference_config()


@pytest.mark.parametrize("text, message", [
    (None, "is missing: run --stage train first"),
    ("{not json", "not readable as JSON"),
    ('{"members": ["model.keras"]}', "expected an inference config of version 1, found version None"),
    ('{"version": 1, "task": "commands"}', "missing audio, feature_dtype, features, members"),
])
def test_a_bad_inference_config_is_refused_with_the_reason(tmp_path, text, message):
    path = tmp_path / "predict_config.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(PipelineError, match=message):
        InferenceConfig.load(path)


# ---- the front end's sizes reach the model -------------------------------------------------

def test_the_model_front_end_takes_its_rate_from_the_audio_settings():
    from competition.frontend.layers import LogMel
    from competition.models import build_model

    audio = AudioConfig(target_rate=8_000)  # not the default's 16 kHz: 8 kHz spectrograms, 81 bins
    model = build_model("mel-cnn", audio, len(LABELS))
    log_mel = next(layer for layer in model.layers if isinstance(layer, LogMel))
    assert log_mel.sample_rate == 8_000 and model.input_shape[1:] == audio.feature_shape == (99, 81)
