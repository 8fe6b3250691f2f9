"""The TensorFlow front end against the numpy reference that fills the feature cache."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import tensorflow as tf

from competition import PipelineError
from competition.core.config import AudioConfig
from competition.frontend import graph as frontend_graph
from competition.frontend import spectral as features
from competition.frontend.spectral import LOG_FLOOR

# float32 on CPU measured a max abs difference of 5.7e-7 (9e-7 over the configs below), on
# samples up to full scale; dropping scipy's Nyquist rule moves these clips by 7.6e-6 to 9e-4.
RESAMPLE_TOLERANCE = 5e-6
# In log power: measured max 2.5e-4 (99.9th percentile 1.6e-4) for the default config, 4.3e-4
# over the configs below, from bins far below their frame's peak. The smallest real mistake
# tried (a symmetric Hann window, on the quiet clip) moves 3.7e-2; a 10% wrong floor 9.5e-2.
LOG_POWER_TOLERANCE = 2e-3
# log(float32(1e-10)) is -23.02585; one float32 step there is 1.9e-6, and TF's vectorised log
# may land one step away from numpy's.
FLOOR_TOLERANCE = abs(float(np.spacing(np.log(np.float32(LOG_FLOOR)))))

# The exported resampler's tests need a rate to decimate to; the default model hears the clips' own.
NARROWBAND = AudioConfig(target_rate=8_000)

CONFIGS = [
    AudioConfig(),  # 16 kHz in and out: resampling is the identity
    NARROWBAND,
    AudioConfig(window_ms=30.0),
    AudioConfig(sample_rate=8_000, target_rate=16_000),  # upsampling: scipy splits the Nyquist bin
    AudioConfig(target_rate=7_999),  # odd target length: no Nyquist bin to fold
    # an odd frame (161 samples): one DFT matrix, not the radix-2 halves
    AudioConfig(target_rate=8_000, window_ms=20.125),
]
# The exported resampler (a windowed-sinc filter) against the Fourier reference, in log power
# below 95 % of the target's Nyquist frequency, where its pass band is flat: measured max 0.064
# (on the tones, near their leakage floor) and 99th percentile 0.015, for the 20 ms and 30 ms
# frames. Above it the filter rolls off where the Fourier method cuts like a wall (up to 7.7
# there), which the exported model's accuracy, not this test, judges (benchmarks/engines.py).
DECIMATE_TOLERANCE = 0.1
DECIMATE_BAND = 0.95


def _as_wav(samples: np.ndarray) -> np.ndarray:
    """Quantised to int16 and read back as competition.frontend.audio._to_float does."""
    quantised = np.clip(np.round(samples * 32767), -32768, 32767).astype(np.int16)
    return quantised.astype(np.float32) / 32768.0


def _clips(audio: AudioConfig) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n = audio.clip_samples
    t = np.arange(n) / audio.sample_rate
    tones = sum(a * np.sin(2 * np.pi * f * t) for a, f in [(0.3, 440), (0.2, 1234.5), (0.1, 3100), (0.05, 3999)])
    burst = np.zeros(n)
    start, length = int(0.44 * n), int(0.05 * n)
    burst[start:start + length] = 0.5 * rng.standard_normal(length) * np.hanning(length)
    chirp = 0.95 * np.sin(2 * np.pi * (200 + 1500 * t) * t)
    return {
        "tones over a noise floor": _as_wav(tones + 3e-3 * rng.standard_normal(n)),
        "quiet white noise": _as_wav(1e-3 * rng.standard_normal(n)),
        "silence with a short burst": _as_wav(burst),
        "loud, near full scale": _as_wav(np.clip(chirp + 0.05 * rng.standard_normal(n), -1, 1)),
    }


def _graph(function, values: np.ndarray, audio: AudioConfig) -> np.ndarray:
    # The reference is float32 CPU arithmetic; a GPU matmul may run in TF32 and lose parity.
    with tf.device("/CPU:0"):
        return function(tf.constant(values), audio).numpy()


@pytest.fixture(scope="module", params=CONFIGS, ids=lambda audio: f"{audio.target_samples}-of-{audio.window_samples}")
def case(request):
    audio = request.param
    clips = np.stack(list(_clips(audio).values()))
    return audio, clips


def test_resample_matches_numpy(case):
    audio, clips = case
    graph = _graph(frontend_graph.resample, clips, audio)
    assert graph.shape == (len(clips), audio.target_samples) and graph.dtype == np.float32
    assert np.abs(graph - features.resample(clips, audio)).max() <= RESAMPLE_TOLERANCE


def test_log_spectrogram_matches_numpy(case):
    audio, clips = case
    graph = _graph(frontend_graph.log_spectrogram, clips, audio)
    assert graph.shape == (len(clips), *audio.feature_shape) and graph.dtype == np.float32
    assert np.abs(graph - features.log_spectrogram(clips, audio)).max() <= LOG_POWER_TOLERANCE


def test_log_spectrogram_of_resampled_matches_numpy_on_the_same_input(case):
    audio, clips = case
    resampled = features.resample(clips, audio)
    graph = _graph(frontend_graph.log_spectrogram_of_resampled, resampled, audio)
    assert np.abs(graph - features.log_spectrogram_of_resampled(resampled, audio)).max() <= LOG_POWER_TOLERANCE


def test_sizes_come_from_the_config():
    assert AudioConfig().feature_shape == (99, 161) and NARROWBAND.feature_shape == (99, 81)
    audio = AudioConfig(window_ms=30.0)
    assert audio.feature_shape == (98, 241)
    clips = np.stack(list(_clips(audio).values()))
    assert _graph(frontend_graph.log_spectrogram, clips, audio).shape == (len(clips), 98, 241)


def test_digital_silence_sits_exactly_on_the_floor():
    audio = AudioConfig()
    silence = np.zeros((2, audio.clip_samples), np.float32)
    floor = np.log(np.float32(LOG_FLOOR))
    assert np.abs(features.log_spectrogram(silence, audio) - floor).max() == 0
    assert np.abs(_graph(frontend_graph.log_spectrogram, silence, audio) - floor).max() <= FLOOR_TOLERANCE


def _symmetric_hann(audio: AudioConfig):
    window, scale = features.window_and_scale(audio)
    symmetric = scipy.signal.get_window("hann", audio.window_samples, fftbins=False).astype(np.float32)
    return symmetric, scale * np.float32((window ** 2).sum() / (symmetric ** 2).sum())


def _two_sided_scale(audio: AudioConfig):
    window, scale = features.window_and_scale(audio)
    return window, np.full_like(scale, scale[0])


@pytest.mark.parametrize("mistake, value", [
    ("window_and_scale", _symmetric_hann),
    ("window_and_scale", _two_sided_scale),
    ("LOG_FLOOR", 1.1 * LOG_FLOOR),
], ids=["symmetric-window", "two-sided-scale", "floor"])
def test_the_tolerance_would_catch_a_real_mistake(monkeypatch, mistake, value):
    audio = AudioConfig()
    clips = np.stack(list(_clips(audio).values()))
    monkeypatch.setattr(frontend_graph, mistake, value)
    graph = _graph(frontend_graph.log_spectrogram, clips, audio)
    assert np.abs(graph - features.log_spectrogram(clips, audio)).max() > 10 * LOG_POWER_TOLERANCE


def test_runs_in_a_graph_with_an_unknown_batch():
    audio = AudioConfig()
    spec = tf.TensorSpec([None, audio.clip_samples], tf.float32)
    traced = tf.function(lambda waves: frontend_graph.log_spectrogram(waves, audio), input_signature=[spec])
    assert traced.get_concrete_function().structured_outputs.shape.as_list() == [None, *audio.feature_shape]
    clips = np.stack(list(_clips(audio).values()))
    with tf.device("/CPU:0"):
        graph = traced(tf.constant(clips)).numpy()
    assert np.abs(graph - features.log_spectrogram(clips, audio)).max() <= LOG_POWER_TOLERANCE


def test_rejects_clips_of_the_wrong_length():
    with pytest.raises(ValueError, match="16000"):
        frontend_graph.resample(tf.zeros([1, 8_000]), AudioConfig())


@pytest.mark.parametrize("audio", [NARROWBAND, AudioConfig(target_rate=8_000, window_ms=30.0)], ids=["20ms", "30ms"])
def test_the_exported_resampler_matches_the_reference_below_the_roll_off(audio):
    clips = np.stack(list(_clips(audio).values()))
    decimated = _graph(frontend_graph.decimate, clips, audio)
    assert decimated.shape == (len(clips), audio.target_samples)
    ours = _graph(frontend_graph.log_spectrogram_of_resampled, decimated, audio)
    reference = features.log_spectrogram(clips, audio)
    band = int(DECIMATE_BAND * (audio.n_freqs - 1))
    assert np.abs(ours - reference)[..., :band].max() <= DECIMATE_TOLERANCE
    # and the tolerance means something: a filter cut off at half the band is far outside it
    halved = _graph(frontend_graph.decimate, clips, AudioConfig(target_rate=4_000, window_ms=40.0))
    halved = np.repeat(halved, 2, axis=1)  # back to 8 kHz by holding each sample
    assert np.abs(_graph(frontend_graph.log_spectrogram_of_resampled, halved, audio) - reference)[..., :band].max() \
        > 10 * DECIMATE_TOLERANCE


def test_the_polyphase_convolution_is_the_strided_filter():
    audio = NARROWBAND
    clip = _clips(audio)["loud, near full scale"]
    taps = frontend_graph.decimation_filter(audio)
    half = len(taps) // 2
    padded = np.concatenate([clip[-half:], clip, clip[:half]]).astype(np.float64)
    direct = np.convolve(padded, taps[::-1], mode="valid")[::2]  # taps are symmetric; reversed for the record
    assert np.abs(_graph(frontend_graph.decimate, clip[None], audio)[0] - direct).max() < 1e-5
    assert abs(taps.sum() - 1) < 1e-12 and np.allclose(taps, taps[::-1])


def test_the_exported_resampler_refuses_a_ratio_that_is_not_whole():
    with pytest.raises(PipelineError, match="16000 Hz -> 7999 Hz"):
        frontend_graph.decimate(np.zeros((1, 16_000), np.float32), AudioConfig(target_rate=7_999))


def test_the_exported_front_end_does_not_filter_when_the_model_hears_the_clips_rate():
    audio = AudioConfig()
    clips = np.stack(list(_clips(audio).values()))
    assert audio.target_rate == audio.sample_rate and frontend_graph.decimation_factor(audio) == 1
    assert np.array_equal(_graph(frontend_graph.decimate, clips, audio), clips)
