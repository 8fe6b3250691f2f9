"""The features stage's front end (resampling, log-power spectrogram) as TensorFlow ops.

The cache is filled by the numpy reference in frontend.spectral; exporting a model that reads
raw audio (TensorFlow Lite) needs the same front end inside the graph. Parity with that reference
is what tests/test_frontend_graph.py checks; window, PSD scale and log floor come from it directly.

Two resamplers: `resample`, the reference's exact Fourier method (TensorFlow's RFFT, which
TensorFlow Lite's builtin ops cannot run on a clip's length), and `decimate`, a windowed-sinc
low-pass filter in TFLite's builtin ops that the exported models use; it differs from the
reference only near the target's Nyquist frequency (tests/test_frontend_graph.py bounds how much).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .. import PipelineError
from ..core.config import AudioConfig
from .spectral import LOG_FLOOR, window_and_scale


def resample(waves: tf.Tensor, audio: AudioConfig) -> tf.Tensor:
    """(batch, clip_samples) at sample_rate -> (batch, target_samples) at target_rate, float32.

    Exact Fourier resampling over the whole clip, scipy.signal.resample's Nyquist rule included,
    as spectral.resample does. The export work may replace this with a windowed-sinc strided
    convolution: TFLite's builtin FFT ops only take power-of-two lengths, and clips are not.
    """
    waves = _batch_of(waves, audio.clip_samples, "clips")
    source, target = audio.clip_samples, audio.target_samples
    shared = min(source, target) // 2 + 1
    gain = np.ones(shared, np.float32)
    # scipy keeps the spectrum Hermitian across the cut: the bin that becomes (or was) the Nyquist
    # bin holds both halves' energy when shrinking, and is split between them when growing.
    if target < source and target % 2 == 0:
        gain[target // 2] = 2.0
    elif target > source and source % 2 == 0:
        gain[source // 2] = 0.5
    kept = tf.signal.rfft(waves)[:, :shared] * tf.constant(gain.astype(np.complex64))
    kept = tf.pad(kept, [[0, 0], [0, target // 2 + 1 - shared]])
    return tf.signal.irfft(kept, fft_length=[target]) * np.float32(target / source)


# The exported resampler's low-pass filter, when the model's rate is below the clips' (the default
# needs none: both are 16 kHz): 511 taps with a Kaiser window (beta 10) pass up to
# about 3.9 kHz of an 8 kHz target within 0.01 dB and stop aliasing by about 100 dB; measured on
# kaggle-mini clips, log power below 3.8 kHz within 0.01 of the Fourier reference (99th
# percentile of bins above 1e-7), where 127 taps gave 0.2.
DECIMATION_TAPS = 511
DECIMATION_KAISER_BETA = 10.0
# Outputs per row of the polyphase convolution: its channels let XNNPACK vectorise a filter
# that, as a one-channel strided convolution, took 2.6 ms of a clip's 4 ms here (now 0.15 ms).
DECIMATION_OUTPUTS_PER_ROW = 8


def decimate(waves: tf.Tensor, audio: AudioConfig) -> tf.Tensor:
    """(batch, clip_samples) -> (batch, target_samples): low-pass filter and keep every D-th
    sample, D = sample_rate / target_rate, in TFLite builtin ops (pad, reshape, conv).

    The clip is padded circularly, as the Fourier method treats it as one period.
    """
    factor = decimation_factor(audio)
    waves = _batch_of(waves, audio.clip_samples, "clips")
    if factor == 1:
        return waves
    kernel = _polyphase_kernel(audio)
    taps_per_row, row_length, outputs_per_row = kernel.shape
    half = DECIMATION_TAPS // 2
    rows_out = -(-audio.target_samples // outputs_per_row)
    needed = (rows_out + taps_per_row - 1) * row_length
    padded = tf.concat([waves[:, -half:], waves, waves[:, :half]], axis=1)
    padded = tf.pad(padded, [[0, 0], [0, needed - (audio.clip_samples + 2 * half)]])
    rows = tf.reshape(padded, [-1, rows_out + taps_per_row - 1, row_length])
    filtered = tf.nn.conv1d(rows, tf.constant(kernel), stride=1, padding="VALID")
    return tf.reshape(filtered, [-1, rows_out * outputs_per_row])[:, :audio.target_samples]


def decimation_factor(audio: AudioConfig) -> int:
    if audio.sample_rate % audio.target_rate or audio.clip_samples != audio.target_samples * (
            audio.sample_rate // audio.target_rate):
        raise PipelineError(f"the exported front end resamples by a whole factor; the audio settings ask for "
                            f"{audio.sample_rate} Hz -> {audio.target_rate} Hz over {audio.clip_samples} samples")
    return audio.sample_rate // audio.target_rate


def decimation_filter(audio: AudioConfig) -> np.ndarray:
    """The low-pass filter's taps (float64, unit gain at 0 Hz), cut off at the target's Nyquist."""
    factor = decimation_factor(audio)
    n = np.arange(DECIMATION_TAPS) - DECIMATION_TAPS // 2
    taps = np.sinc(n / factor) * np.kaiser(DECIMATION_TAPS, DECIMATION_KAISER_BETA)
    return taps / taps.sum()


def _polyphase_kernel(audio: AudioConfig) -> np.ndarray:
    """(taps_per_row, D * Q, Q) float32: a strided filter over the clip rewritten as a stride-1
    convolution over rows of D * Q samples with Q output channels, output j of row r being
    sum_i taps[i] * padded[D * (r * Q + j) + i]."""
    factor, taps = decimation_factor(audio), decimation_filter(audio)
    outputs = DECIMATION_OUTPUTS_PER_ROW
    row_length = factor * outputs
    taps_per_row = -(-(len(taps) + factor * (outputs - 1)) // row_length)
    kernel = np.zeros((taps_per_row * row_length, outputs))
    for output in range(outputs):  # flattened (row, sample) position of each tap for this output
        kernel[factor * output:factor * output + len(taps), output] = taps
    return kernel.reshape(taps_per_row, row_length, outputs).astype(np.float32)


def log_spectrogram(waves: tf.Tensor, audio: AudioConfig) -> tf.Tensor:
    """(batch, clip_samples) at sample_rate -> (batch, n_frames, n_freqs) float32 log power."""
    return log_spectrogram_of_resampled(resample(waves, audio), audio)


def log_spectrogram_of_resampled(resampled: tf.Tensor, audio: AudioConfig) -> tf.Tensor:
    """(batch, target_samples) -> (batch, n_frames, n_freqs): one-sided Hann-window PSD, log(power + floor).

    Parity assumes float32 matmuls; GPUs that TensorFlow lets run them in TF32 drift further.
    """
    resampled = _batch_of(resampled, audio.target_samples, "resampled clips")
    frames = tf.signal.frame(resampled, audio.window_samples, audio.step_samples, axis=-1)
    # Matmuls (TFLite FULLY_CONNECTED) rather than rfft: TFLite's RFFT2D takes only power-of-two
    # lengths, and a frame is window_samples long.
    frames = tf.reshape(frames, [-1, audio.window_samples])
    real, imag = _dft_radix2(frames, audio) if audio.window_samples % 2 == 0 else _dft(frames, audio)
    _, scale = window_and_scale(audio)
    power = (tf.square(real) + tf.square(imag)) * tf.constant(scale) + np.float32(LOG_FLOOR)
    return tf.reshape(tf.math.log(power), [-1, audio.n_frames, audio.n_freqs])


def _dft(frames: tf.Tensor, audio: AudioConfig) -> tuple[tf.Tensor, tf.Tensor]:
    """Real and imaginary parts of each windowed frame's one-sided DFT, by one matmul."""
    window, _ = window_and_scale(audio)
    parts = tf.matmul(frames, tf.constant(_dft_matrix(audio.window_samples, audio.n_freqs, window)))
    return parts[:, :audio.n_freqs], parts[:, audio.n_freqs:]


def _dft_radix2(frames: tf.Tensor, audio: AudioConfig) -> tuple[tf.Tensor, tf.Tensor]:
    """The same for an even frame, from the half-length DFTs of its even and odd samples: one
    matrix a quarter the size of `_dft`'s (the exported int8 model keeps it in float, so its
    size counts) and half the multiplications."""
    window, _ = window_and_scale(audio)
    half = audio.window_samples // 2
    pairs = tf.reshape(frames * tf.constant(window), [-1, half, 2])
    matrix = tf.constant(_dft_matrix(half, audio.n_freqs))  # one constant, used twice
    even, odd = tf.matmul(pairs[:, :, 0], matrix), tf.matmul(pairs[:, :, 1], matrix)
    k = audio.n_freqs
    # X[k] = E[k] + exp(-2 pi i k / N) O[k]; E and O have period N / 2, which the matrix's
    # columns past N / 2 already wrap.
    angle = 2 * np.pi * np.arange(k) / audio.window_samples
    cos, sin = tf.constant(np.cos(angle).astype(np.float32)), tf.constant(np.sin(angle).astype(np.float32))
    odd_real, odd_imag = odd[:, :k], odd[:, k:]
    return even[:, :k] + cos * odd_real + sin * odd_imag, even[:, k:] + cos * odd_imag - sin * odd_real


def _dft_matrix(length: int, bins: int, window: np.ndarray | None = None) -> np.ndarray:
    """(length, 2 * bins) float32: the (windowed) cosines, then minus the sines, of bins 0..bins-1
    of a `length`-point DFT."""
    n = np.arange(length)
    # n * k reduced modulo the length before scaling keeps the angles exact in float64 however
    # long the frame, so the matrix rounds only once, to float32.
    angle = 2 * np.pi * (np.outer(n, np.arange(bins)) % length) / length
    windowed = np.ones((length, 1)) if window is None else window.astype(np.float64)[:, None]
    return np.concatenate([windowed * np.cos(angle), -windowed * np.sin(angle)], axis=1).astype(np.float32)


def _batch_of(values: tf.Tensor, samples: int, what: str) -> tf.Tensor:
    values = tf.convert_to_tensor(values, tf.float32)
    # Checked on the static shape, so no assertion op lands in an exported graph.
    if values.shape.rank is not None and (values.shape.rank != 2 or values.shape[-1] not in (None, samples)):
        raise ValueError(f"expected {what} shaped (batch, {samples}); got {values.shape}")
    return values
