"""The features stage's front end (resampling, log-power spectrogram) as TensorFlow ops.

The cache is filled by the numpy reference in frontend.spectral; exporting a model that reads
raw audio (TensorFlow Lite) needs the same front end inside the graph. Parity with that reference
is what tests/test_frontend_graph.py checks; window, PSD scale and log floor come from it directly.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

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


def log_spectrogram(waves: tf.Tensor, audio: AudioConfig) -> tf.Tensor:
    """(batch, clip_samples) at sample_rate -> (batch, n_frames, n_freqs) float32 log power."""
    return log_spectrogram_of_resampled(resample(waves, audio), audio)


def log_spectrogram_of_resampled(resampled: tf.Tensor, audio: AudioConfig) -> tf.Tensor:
    """(batch, target_samples) -> (batch, n_frames, n_freqs): one-sided Hann-window PSD, log(power + floor).

    Parity assumes float32 matmuls; GPUs that TensorFlow lets run them in TF32 drift further.
    """
    resampled = _batch_of(resampled, audio.target_samples, "resampled clips")
    frames = tf.signal.frame(resampled, audio.window_samples, audio.step_samples, axis=-1)
    # One 2-D matmul (TFLite FULLY_CONNECTED / BATCH_MATMUL) rather than rfft: TFLite's RFFT2D
    # takes only power-of-two lengths, and a frame is window_samples long.
    parts = tf.matmul(tf.reshape(frames, [-1, audio.window_samples]), tf.constant(_dft_matrix(audio)))
    real, imag = parts[:, :audio.n_freqs], parts[:, audio.n_freqs:]
    _, scale = window_and_scale(audio)
    power = (tf.square(real) + tf.square(imag)) * tf.constant(scale) + np.float32(LOG_FLOOR)
    return tf.reshape(tf.math.log(power), [-1, audio.n_frames, audio.n_freqs])


def _dft_matrix(audio: AudioConfig) -> np.ndarray:
    """(window_samples, 2 * n_freqs) float32: windowed cosines, then windowed sines, of each bin."""
    window, _ = window_and_scale(audio)
    n = np.arange(audio.window_samples)
    # n * k reduced modulo the frame length before scaling keeps the angles exact in float64
    # however long the frame, so the matrix rounds only once, to float32.
    angle = 2 * np.pi * (np.outer(n, np.arange(audio.n_freqs)) % audio.window_samples) / audio.window_samples
    windowed = window.astype(np.float64)[:, None]
    return np.concatenate([windowed * np.cos(angle), -windowed * np.sin(angle)], axis=1).astype(np.float32)


def _batch_of(values: tf.Tensor, samples: int, what: str) -> tf.Tensor:
    values = tf.convert_to_tensor(values, tf.float32)
    # Checked on the static shape, so no assertion op lands in an exported graph.
    if values.shape.rank is not None and (values.shape.rank != 2 or values.shape[-1] not in (None, samples)):
        raise ValueError(f"expected {what} shaped (batch, {samples}); got {values.shape}")
    return values
