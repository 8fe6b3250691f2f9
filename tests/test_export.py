"""Side stage export and the TFLite engines, on the model trained once on the tiny competition."""
import io
import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import run
from competition import PipelineError, stages
from competition.core.paths import Paths
from competition.data.features import FeatureRows
from competition.export import convert
from competition.export import stage as export_stage
from competition.frontend import graph as frontend_graph
from competition.frontend.audio import load_clip
from competition.inference.predictor import Predictor

# Probabilities of the float file against the Keras model on the same clips: the front ends differ
# only by float rounding at 16 kHz, and near 4 kHz for an 8 kHz model (tests/test_frontend_graph.py);
# measured max 1.6e-5 on this tiny model at 8 kHz.
FLOAT_TOLERANCE = 1e-3
# The int8 file: 8-bit activations and output (steps of 1/256); measured max 0.0026.
INT8_TOLERANCE = 0.05


def _test_clips(paths, n=12):
    files = sorted(paths.test_audio_dir.glob("*.wav"))[:n]
    predictor = Predictor.load(paths, "keras")
    return files, np.stack([load_clip(f, predictor.config.audio) for f in files]), predictor


def test_export_writes_both_files_the_labels_and_a_readme(exported):
    paths, _ = exported
    info = json.loads(paths.export_info.read_text())
    assert info["sample_rate"] == 16_000 and info["clip_samples"] == 16_000
    assert paths.export_labels.read_text() == paths.labels_file.read_text()
    sizes = {int8: paths.exported_model(int8).stat().st_size for int8 in (False, True)}
    assert sizes[True] < sizes[False] / 2
    readme = paths.export_readme.read_text()
    assert "(batch, 16000)" in readme and "labels.txt" in readme and f"{sizes[True]:,}" in readme
    assert json.loads(paths.manifest("export").read_text())["stage"] == "export"


def test_a_bare_interpreter_runs_the_files_on_audio_without_this_package(exported):
    paths, _ = exported
    files, clips, keras_predictor = _test_clips(paths)
    expected = keras_predictor.probabilities_of_clips(clips, shifts=(0,))
    script = textwrap.dedent("""
        import sys, wave
        import numpy as np
        from ai_edge_litert.interpreter import Interpreter
        model, *files = sys.argv[1:]
        clips = []
        for name in files:
            with wave.open(name) as w:
                clips.append(np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768)
        clips = np.stack([np.pad(c[:16000], (0, 16000 - len(c[:16000]))) for c in clips])
        interpreter = Interpreter(model_path=model)
        interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], clips.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], clips)
        interpreter.invoke()
        np.save(sys.stdout.buffer, interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
        assert not any(m.startswith("competition") or m.startswith("tensorflow") for m in sys.modules)
    """)
    for int8, tolerance in ((False, FLOAT_TOLERANCE), (True, INT8_TOLERANCE)):
        result = subprocess.run([sys.executable, "-c", script, str(paths.exported_model(int8)), *map(str, files)],
                                capture_output=True, check=True, cwd=paths.work_dir)
        probabilities = np.load(io.BytesIO(result.stdout))
        assert probabilities.shape == expected.shape
        assert np.allclose(probabilities.sum(axis=1), 1, atol=0.02)
        assert np.abs(probabilities - expected).max() <= tolerance


def test_builtin_ops_only_and_the_int8_network_around_a_float_front_end(exported):
    paths, _ = exported
    for int8 in (False, True):
        names = [name for name, _ in convert.ops(paths.exported_model(int8).read_bytes())]
        assert not [name for name in names if name.startswith(("FLEX", "CUSTOM", "DELEGATE"))], names
    ops = convert.ops(paths.exported_model(True).read_bytes())
    # the default model hears the clips' own 16 kHz: no decimation filter, every convolution is the network's
    assert {dtype for name, dtype in ops if name == "CONV_2D"} == {"int8"}
    assert {dtype for name, dtype in ops if name == "LOG"} == {"float32"}
    info = json.loads(paths.export_info.read_text())
    assert "LOG" in info["float_ops_int8"] and "CONV_2D" not in info["float_ops_int8"]
    assert "decimation" not in paths.export_readme.read_text()


def test_a_model_at_8k_keeps_its_decimation_filter_in_float_and_the_network_in_int8():
    import keras

    from competition.core.config import AudioConfig
    from competition.core.labels import LABELS
    from competition.export.graph import FRONTEND_SCOPE, audio_model, float_front_layers
    from competition.inference.config import InferenceConfig
    from competition.models import build_model

    audio = AudioConfig(target_rate=8_000)
    keras.utils.set_random_seed(0)
    model = build_model("mel-cnn", audio, len(LABELS))
    config = InferenceConfig(task="commands", members=("model.keras",), tta_shifts=(0,), unknown_threshold=0.0,
                             features="logspec", feature_dtype="float32", audio=audio)
    calibration = np.random.default_rng(0).normal(0, 0.1, (4, audio.clip_samples)).astype(np.float32)
    int8 = convert.to_int8(audio_model([model], config), calibration, [FRONTEND_SCOPE, *float_front_layers([model])])
    convolutions = [dtype for name, dtype in convert.ops(int8) if name == "CONV_2D"]
    assert convolutions[0] == "float32"  # the decimation filter
    assert convolutions[1:] and set(convolutions[1:]) == {"int8"}  # the network


def test_the_in_graph_front_end_matches_the_features_stage_on_the_test_clips(exported):
    paths, _ = exported
    table = pd.read_csv(paths.feature_table("test"))
    cached = FeatureRows(paths.feature_cache("test"))[0:len(table)].astype(np.float32)
    predictor = Predictor.load(paths, "keras")
    audio = predictor.config.audio
    clips = np.stack([load_clip(paths.extract_dir / p, audio) for p in table["path"]])
    ours = frontend_graph.log_spectrogram_of_resampled(frontend_graph.decimate(clips, audio), audio).numpy()
    band = int(0.95 * (audio.n_freqs - 1))
    # the cache is float16 (a step of 0.016 at |log power| 23) on top of the resampler's 0.1;
    # measured max 0.033 on these clips
    assert np.abs(ours - cached)[..., :band].max() <= 0.1 + 0.02


@pytest.mark.parametrize("engine, agreement", [("tflite", 0.95), ("tflite-int8", 0.8)])
def test_predict_and_classify_through_an_exported_file(finished_run, exported, tmp_path, engine, agreement, capsys):
    paths, _ = exported
    output = tmp_path / f"{engine}.csv"
    args = ["--work-dir", str(paths.work_dir), "--input-dir", str(paths.input_dir), "--engine", engine]
    assert run.main(["--stage", "predict", "--output", str(output), *args]) == 0
    submission, keras = pd.read_csv(output), pd.read_csv(finished_run[0].output)
    assert list(submission.columns) == ["fname", "label"] and list(submission["fname"]) == list(keras["fname"])
    # the same decision rule on nearly the same probabilities (this tiny model's are close calls)
    assert (submission["label"] == keras["label"]).mean() >= agreement
    clip = sorted(paths.test_audio_dir.glob("*.wav"))[0]
    assert run.main(["--classify", str(clip), *args]) == 0
    assert capsys.readouterr().out.startswith(f"{clip}: ")


def test_an_export_from_another_model_or_none_is_refused(exported, tmp_path):
    paths, settings = exported
    copy = Paths(input_dir=paths.input_dir, work_dir=tmp_path / "work", output=tmp_path / "s.csv")
    shutil.copytree(paths.work_dir, copy.work_dir)
    config = json.loads(copy.inference_config.read_text())
    config["unknown_threshold"] = 0.5  # as a retrained model would differ
    copy.inference_config.write_text(json.dumps(config))
    with pytest.raises(PipelineError, match="run --stage export again"):
        Predictor.load(copy, "tflite")
    shutil.rmtree(copy.export_dir)
    with pytest.raises(PipelineError, match="export.json is missing: run --stage export first"):
        Predictor.load(copy, "tflite-int8")


def test_an_interrupted_export_leaves_nothing_an_engine_trusts(finished_run, tmp_path, monkeypatch):
    paths, settings = finished_run
    copy = Paths(input_dir=paths.input_dir, work_dir=tmp_path / "work", output=tmp_path / "s.csv")
    shutil.copytree(paths.work_dir, copy.work_dir, ignore=shutil.ignore_patterns("export", "export.json"))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(export_stage, "to_int8", interrupted)
    with pytest.raises(KeyboardInterrupt):
        stages.run("export", copy, settings)
    assert not copy.export_dir.exists() and not copy.manifest("export").exists()


@pytest.mark.parametrize("model, features", [("cnn", "logspec"), ("dense", "mfcc"), ("conv1d", "wave")])
def test_every_family_exports_with_the_front_end_its_features_need(model, features):
    """An untrained model of each family, so every front end (log power, MFCCs, the waveform) and
    an ensemble's averaging are held to the Keras model on the same clips."""
    from competition.core.config import AudioConfig, cached_representation
    from competition.export.graph import audio_model
    from competition.frontend.spectral import clip_features
    from competition.inference.config import InferenceConfig
    from competition.models import build_model

    audio = AudioConfig()
    keras_model = build_model(model, audio, 12, features)
    config = InferenceConfig(task="commands", members=("a", "b"), tta_shifts=(0,), unknown_threshold=0.0,
                             features=features, feature_dtype="float32", audio=audio)
    flatbuffer = convert.to_float(audio_model([keras_model, keras_model], config))
    clips = np.random.default_rng(0).uniform(-0.5, 0.5, (3, audio.clip_samples)).astype(np.float32)
    expected = keras_model.predict_on_batch(clip_features(clips, audio, cached_representation(features)))
    interpreter = convert._interpreter(flatbuffer)
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], clips.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], clips)
    interpreter.invoke()
    probabilities = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    # white noise has energy right up to 4 kHz, where the resamplers differ most
    assert np.abs(probabilities - expected).max() <= 0.02
