"""The model families: every registry entry on each input it reads, the MFCC and pooling layers,
waveform features and augmentation, and the pipeline trained end to end on the waveform."""
import dataclasses
import json
import re
import shutil

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import run
from competition import PipelineError, stages
from competition.core.config import AudioConfig, AugmentConfig
from competition.core.labels import LABELS
from competition.core.paths import Paths
from competition.device.model import shift_frames
from competition.frontend.layers import MFCC, LogMel
from competition.frontend.spectral import clip_features, log_spectrogram
from competition.inference.ensemble import tta_shifts
from competition.models import build_model, check_features, model_names
from competition.models.families import PoolOverTime
from competition.models.registry import MODELS
from competition.train.augmentation import augment_batch

AUDIO = AudioConfig()
PAIRS = [(name, features) for name in MODELS.names() for features in MODELS.get(name).features]


def test_the_registry_has_every_family_the_issue_names():
    assert {"seed-cnn", "cnn", "mel-cnn", "dense", "conv1d"} <= set(model_names())
    assert MODELS.get("conv1d").features == ("wave",) and "mfcc" in MODELS.get("cnn").features


@pytest.mark.parametrize("name,features", PAIRS)
def test_each_model_gives_probabilities_and_survives_a_save(name, features, tmp_path):
    shape = AUDIO.cache_shape(features)
    model = build_model(name, AUDIO, len(LABELS), features)
    x = np.random.default_rng(0).normal(size=(3, *shape)).astype(np.float32) - (0 if features == "wave" else 5)
    probabilities = model.predict_on_batch(x)
    assert probabilities.shape == (3, len(LABELS)) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    model.save(tmp_path / "m.keras")
    assert np.allclose(keras.models.load_model(tmp_path / "m.keras").predict_on_batch(x), probabilities, atol=1e-5)


@pytest.mark.parametrize("name,features", [("mel-cnn", "wave"), ("conv1d", "logspec"), ("mel-cnn", "mfcc")])
def test_a_model_refuses_features_it_cannot_read(name, features):
    with pytest.raises(PipelineError, match=f"model {name} reads .* got --features {features}"):
        check_features(name, features)


def test_the_command_line_refuses_a_mismatch_before_any_work(tmp_path, capsys):
    assert run.main(["--model", "mel-cnn", "--features", "wave", "--work-dir", str(tmp_path)]) == 1
    assert "model mel-cnn reads logspec features; got --features wave" in capsys.readouterr().err
    assert not (tmp_path / "manifests").exists()


def network_mfcc() -> MFCC:
    return MFCC(n_mfcc=13, n_mels=40, sample_rate=AUDIO.target_rate)


def test_mfcc_layer_gives_coefficients_and_their_deltas():
    steady = np.tile(np.linspace(-8, -2, AUDIO.n_freqs, dtype=np.float32), (1, AUDIO.n_frames, 1))
    out = network_mfcc()(steady).numpy()
    assert out.shape == (1, AUDIO.n_frames, 39)
    assert np.allclose(out[..., 13:], 0, atol=1e-4)  # nothing changes in time: zero deltas
    assert np.allclose(out[0, 0, :13], out[0, -1, :13])
    louder = network_mfcc()(steady + 2.0).numpy()
    assert louder[0, 0, 0] > out[0, 0, 0] and np.allclose(louder[0, 0, 1:13], out[0, 0, 1:13], atol=1e-3)

    ramp = steady + np.arange(AUDIO.n_frames, dtype=np.float32)[None, :, None] * 0.1  # louder each frame
    deltas = network_mfcc()(ramp).numpy()[0, 1:-1, 13]
    assert np.allclose(deltas, deltas[0], atol=1e-3) and deltas[0] > 0


def test_mfcc_layer_is_tensorflows_mfccs_as_one_matrix():
    """The DCT as a constant product (so TensorFlow Lite's builtin ops run it) gives the numbers
    of tf.signal.mfccs_from_log_mel_spectrograms, which models trained before it used."""
    log_power = np.random.default_rng(2).uniform(-20, 0, (2, AUDIO.n_frames, AUDIO.n_freqs)).astype(np.float32)
    layer = network_mfcc()
    ours = layer(log_power).numpy()[..., :13]
    theirs = tf.signal.mfccs_from_log_mel_spectrograms(LogMel.call(layer, log_power)).numpy()[..., :13]
    assert np.abs(ours - theirs).max() <= 1e-4 * np.abs(theirs).max()


def test_pooling_over_time_is_each_bands_mean_and_spread():
    x = np.random.default_rng(1).normal(size=(2, 50, 7)).astype(np.float32)
    pooled = PoolOverTime()(x).numpy()
    assert np.allclose(pooled, np.concatenate([x.mean(axis=1), x.std(axis=1)], axis=1), atol=1e-5)


def test_wave_features_are_the_signal_the_spectrogram_is_made_of():
    t = np.arange(AUDIO.clip_samples) / AUDIO.sample_rate
    clips = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 1000 * t)]).astype(np.float32) * 0.5
    waves = clip_features(clips, AUDIO, "wave")
    assert waves.shape == (2, AUDIO.target_samples) and waves.dtype == np.float32
    assert abs(np.argmax(np.abs(np.fft.rfft(waves[1]))) - 1000) <= 1  # 1 Hz bins: still 1 kHz at the model's rate
    assert np.allclose(clip_features(clips, AUDIO, "spectrogram"), log_spectrogram(clips, AUDIO))


def test_waveform_augmentation_is_seeded_and_only_shifts_noises_and_scales():
    x = tf.constant(np.random.default_rng(2).normal(size=(4, 800)).astype(np.float32))
    bank = tf.constant(np.random.default_rng(3).normal(size=(5, 800)).astype(np.float32))
    seed = tf.constant([7, 8], tf.int64)
    once = augment_batch(x, bank, AugmentConfig(), seed, samples_per_frame=8).numpy()
    assert once.shape == (4, 800) and np.array_equal(once, augment_batch(x, bank, AugmentConfig(), seed, 8).numpy())
    assert not np.array_equal(once, augment_batch(x, bank, AugmentConfig(), seed + 1, 8).numpy())
    quiet = AugmentConfig(max_shift_frames=0, noise_probability=0.0, volume_db=0.0)
    assert np.allclose(augment_batch(x, bank, quiet, seed, 8).numpy(), x.numpy())
    shifted = augment_batch(x, None, dataclasses.replace(quiet, max_shift_frames=5), seed, 8).numpy()
    for row, original in zip(shifted, x.numpy()):  # each row moved by up to 40 samples, zeros let in
        shift = next(s for s in range(-40, 41) if np.allclose(row, shift_frames(original[None], s)[0]))
        assert abs(shift) <= 40


def test_test_time_shifts_of_a_waveform_are_in_samples_and_fill_with_zeros():
    assert tta_shifts(True, "wave", AUDIO) == (-3 * AUDIO.step_samples, 0, 3 * AUDIO.step_samples)
    assert tta_shifts(True, "logspec", AUDIO) == (-3, 0, 3) and tta_shifts(False, "wave", AUDIO) == (0,)
    moved = shift_frames(np.full((1, 10), -0.5, np.float32), 3)
    assert np.array_equal(moved[0], [0, 0, 0] + [-0.5] * 7)


def test_raw_waveform_and_mfcc_models_train_and_predict_end_to_end(finished_run, tmp_path):
    source, settings = finished_run
    work = tmp_path / "work"
    shutil.copytree(source.work_dir, work)
    paths = Paths(input_dir=source.input_dir, work_dir=work, output=tmp_path / "wave.csv")
    spectrogram_features = json.loads(paths.manifest("features").read_text())["digest"]

    wave = dataclasses.replace(settings, model="conv1d", features="wave")
    expected = (rf"shape {re.escape(str(AUDIO.feature_shape))}.*"
                rf"--features wave needs \({AUDIO.target_samples},\).*--stage features")
    with pytest.raises(PipelineError, match=expected):
        stages.run("train", paths, wave)  # the spectrogram cache is not silently used
    stages.run("all", paths, wave)
    assert np.load(paths.features_dir / "test.npy", mmap_mode="r").shape == (40, AUDIO.target_samples)
    assert json.loads((paths.model_dir / "predict_config.json").read_text())["features"] == "wave"
    submission = pd.read_csv(paths.output)
    assert len(submission) == 40 and set(submission["label"]) <= set(LABELS)
    assert run.main(["--work-dir", str(work), "--classify", str(sorted(paths.test_audio_dir.glob("*.wav"))[0])]) == 0

    mfcc = dataclasses.replace(settings, model="cnn", features="mfcc")
    stages.run("all", paths, mfcc)
    assert np.load(paths.features_dir / "test.npy", mmap_mode="r").shape == (40, *AUDIO.feature_shape)
    assert json.loads(paths.manifest("features").read_text())["digest"] != spectrogram_features  # rebuilt
    back_to_default = dataclasses.replace(settings, model="dense")  # mfcc or logspec: one shared cache
    assert stages.staleness(stages.STAGES[2], paths, back_to_default) is None
