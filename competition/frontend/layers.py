"""The front end's last steps inside the model, as Keras layers: from the cached log-power
spectrogram to log-mel bands or MFCCs. Their sizes come from the audio settings the model is
built with, never from defaults of their own."""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from .spectral import LOG_FLOOR

MEL_LOW_HZ = 20.0


@keras.saving.register_keras_serializable(package="competition")
class LogMel(layers.Layer):
    """Log-power linear spectrogram in, log-mel out: a fixed filterbank, so the cache stays linear
    (noise mixing happens there) while the network sees fewer, perceptually spaced bands.

    `sample_rate`: the rate of the signal the spectrogram was taken from (AudioConfig.target_rate).
    The cache holds log(power + LOG_FLOOR); exp undoes the log, and the same floor is added
    again after the filterbank.
    """

    def __init__(self, n_mels: int, sample_rate: int, **kwargs):
        super().__init__(**kwargs)
        self.n_mels, self.sample_rate = n_mels, sample_rate

    def build(self, input_shape):
        self.filterbank = tf.signal.linear_to_mel_weight_matrix(
            self.n_mels, int(input_shape[-1]), self.sample_rate, MEL_LOW_HZ, self.sample_rate / 2)

    def call(self, log_power):
        return tf.math.log(tf.tensordot(tf.exp(log_power), self.filterbank, 1) + LOG_FLOOR)

    def get_config(self):
        return {**super().get_config(), "n_mels": self.n_mels, "sample_rate": self.sample_rate}


@keras.saving.register_keras_serializable(package="competition")
class MFCC(LogMel):
    """The network's MFCCs (`--features mfcc`): log-power linear spectrogram in; MFCCs with their
    first and second deltas out, side by side. Not the baseline's MFCC16k (frontend.mfcc16k)."""

    def __init__(self, n_mfcc: int, n_mels: int, sample_rate: int, **kwargs):
        super().__init__(n_mels=n_mels, sample_rate=sample_rate, **kwargs)
        self.n_mfcc = n_mfcc

    def build(self, input_shape):
        super().build(input_shape)
        self.dct = tf.constant(dct_matrix(self.n_mels, self.n_mfcc))

    def call(self, log_power):
        coefficients = tf.tensordot(super().call(log_power), self.dct, 1)
        deltas = delta(coefficients)
        return tf.concat([coefficients, deltas, delta(deltas)], axis=-1)

    def get_config(self):
        return {**super().get_config(), "n_mfcc": self.n_mfcc}


def dct_matrix(n_mels: int, n_mfcc: int) -> np.ndarray:
    """(n_mels, n_mfcc) float32: the first coefficients of tf.signal.mfccs_from_log_mel_spectrograms
    (a DCT-II scaled by 1 / sqrt(2 n_mels)) as one matrix. The same numbers, but a product with a
    constant runs in TensorFlow Lite's builtin ops, where that function's complex FFT does not."""
    n, k = np.arange(n_mels)[:, None], np.arange(n_mfcc)[None, :]
    return (np.sqrt(2.0 / n_mels) * np.cos(np.pi * k * (2 * n + 1) / (2 * n_mels))).astype(np.float32)


def delta(x):
    """Centred difference over time (axis 1), edges repeated: the +-1-frame regression delta."""
    padded = tf.concat([x[:, :1], x, x[:, -1:]], axis=1)
    return (padded[:, 2:] - padded[:, :-2]) / 2.0
