"""Model registry: pure functions from (input_shape, n_classes) to an uncompiled Keras model.

Each entry says which inputs it reads (see config.FEATURE_KINDS): log-power spectrograms,
MFCCs (computed in the model from those spectrograms) or the 8 kHz waveform.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import keras
import tensorflow as tf
from keras import layers

from . import PipelineError

# A builder maps the (front-end output) input tensor and the class count to the output tensor.
Builder = Callable[[keras.KerasTensor, int], keras.KerasTensor]


@dataclasses.dataclass(frozen=True)
class Entry:
    builder: Builder
    features: tuple[str, ...]  # what it can read; the first is its default


_REGISTRY: dict[str, Entry] = {}


def register(name: str, features: tuple[str, ...] = ("logspec", "mfcc")) -> Callable[[Builder], Builder]:
    def decorate(builder: Builder) -> Builder:
        _REGISTRY[name] = Entry(builder, features)
        return builder
    return decorate


def model_names() -> list[str]:
    return sorted(_REGISTRY)


def _entry(name: str) -> Entry:
    if name not in _REGISTRY:
        raise PipelineError(f"unknown model {name!r}; expected one of {', '.join(model_names())}")
    return _REGISTRY[name]


def default_features(name: str) -> str:
    return _entry(name).features[0]


def check_features(name: str, features: str) -> None:
    if features not in _entry(name).features:
        raise PipelineError(f"model {name} reads {' or '.join(_entry(name).features)} features; "
                            f"got --features {features}")


def build_model(name: str, input_shape: tuple[int, ...], n_classes: int, features: str = "logspec") -> keras.Model:
    """`input_shape`: one clip's cached features (settings.input_shape)."""
    check_features(name, features)
    inputs = keras.Input(shape=tuple(input_shape))
    x = MFCC()(inputs) if features == "mfcc" else inputs
    outputs = _entry(name).builder(x, n_classes)
    return keras.Model(inputs, outputs, name=f"{name}_{features}".replace("-", "_"))


def _image(x):
    """(frames, bins) -> (frames, bins, 1) for 2-D convolutions."""
    return layers.Reshape((*x.shape[1:], 1))(x)


@register("seed-cnn")
def seed_cnn(x, n_classes: int):
    """The notebook recipe this project grew from: small convolutions, flatten, two dense layers."""
    x = layers.BatchNormalization()(_image(x))
    for filters, kernel, repeats in ((8, 2, 2), (16, 3, 2), (32, 3, 1)):
        for _ in range(repeats):
            x = layers.Conv2D(filters, kernel, activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(0.2)(x)
    x = layers.Flatten()(x)
    for _ in range(2):
        x = layers.BatchNormalization()(layers.Dense(128, activation="relu")(x))
    return layers.Dense(n_classes, activation="softmax")(x)


# Keras' default momentum (0.99) leaves the moving statistics far behind the batch
# statistics for the first few hundred steps, which is a whole run on small data sets.
BN_MOMENTUM = 0.9


def _conv_bn_relu(x, filters: int):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
    return layers.ReLU()(x)


def _vgg_head(image, n_classes: int):
    """Batch-normalised VGG-style blocks, global pooling and a softmax: the body both CNNs share."""
    x = layers.BatchNormalization(momentum=BN_MOMENTUM)(image)
    x = _conv_bn_relu(x, 16)
    x = layers.MaxPooling2D(2)(x)
    for filters in (32, 64, 128):
        x = _conv_bn_relu(x, filters)
        x = _conv_bn_relu(x, filters)
        x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    return layers.Dense(n_classes, activation="softmax")(x)


@register("cnn")
def cnn(x, n_classes: int):
    """A batch-normalised VGG-style CNN with global pooling, small enough for a CPU."""
    return _vgg_head(_image(x), n_classes)


@keras.saving.register_keras_serializable(package="competition")
class LogMel(layers.Layer):
    """Log-power linear spectrogram in, log-mel out: a fixed filterbank, so the cache stays linear
    (noise mixing happens there) while the network sees half as many, perceptually spaced bands."""

    def __init__(self, n_mels: int = 40, sample_rate: int = 8_000, **kwargs):
        super().__init__(**kwargs)
        self.n_mels, self.sample_rate = n_mels, sample_rate

    def build(self, input_shape):
        self.filterbank = tf.signal.linear_to_mel_weight_matrix(
            self.n_mels, int(input_shape[-1]), self.sample_rate, 20.0, self.sample_rate / 2)

    def call(self, log_power):
        return tf.math.log(tf.tensordot(tf.exp(log_power), self.filterbank, 1) + 1e-10)

    def get_config(self):
        return {**super().get_config(), "n_mels": self.n_mels, "sample_rate": self.sample_rate}


@register("mel-cnn", features=("logspec",))
def mel_cnn(x, n_classes: int):
    """The batch-normalised CNN on 40 log-mel bands: about twice as fast as on 81 linear bins."""
    return _vgg_head(_image(LogMel(n_mels=40)(x)), n_classes)


@keras.saving.register_keras_serializable(package="competition")
class MFCC(LogMel):
    """Log-power linear spectrogram in; MFCCs with their first and second deltas out, side by side."""

    def __init__(self, n_mfcc: int = 13, **kwargs):
        super().__init__(**kwargs)
        self.n_mfcc = n_mfcc

    def call(self, log_power):
        coefficients = tf.signal.mfccs_from_log_mel_spectrograms(super().call(log_power))[..., :self.n_mfcc]
        deltas = _delta(coefficients)
        return tf.concat([coefficients, deltas, _delta(deltas)], axis=-1)

    def get_config(self):
        return {**super().get_config(), "n_mfcc": self.n_mfcc}


def _delta(x):
    """Centred difference over time (axis 1), edges repeated: the usual first-order delta."""
    padded = tf.concat([x[:, :1], x, x[:, -1:]], axis=1)
    return (padded[:, 2:] - padded[:, :-2]) / 2.0


@keras.saving.register_keras_serializable(package="competition")
class PoolOverTime(layers.Layer):
    """(frames, bands) -> mean and standard deviation of each band over time, side by side."""

    def call(self, x):
        return tf.concat([tf.reduce_mean(x, axis=1), tf.math.reduce_std(x, axis=1)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * input_shape[-1])


@register("dense", features=("mfcc", "logspec"))
def dense(x, n_classes: int):
    """A dense network on features pooled over time: the baselines' recipe, learnt end to end."""
    x = layers.BatchNormalization(momentum=BN_MOMENTUM)(PoolOverTime()(x))
    for units in (256, 256):
        x = layers.Dense(units, use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization(momentum=BN_MOMENTUM)(x))
        x = layers.Dropout(0.3)(x)
    return layers.Dense(n_classes, activation="softmax")(x)


@register("conv1d", features=("wave",))
def conv1d(x, n_classes: int):
    """A raw-waveform 1-D CNN on the 8 kHz signal (M5-style: a wide strided first filter that
    learns its own filterbank, then small kernels with pooling)."""
    x = layers.Reshape((x.shape[1], 1))(x)
    x = layers.Conv1D(64, 40, strides=4, padding="same", use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization(momentum=BN_MOMENTUM)(x))
    x = layers.MaxPooling1D(4)(x)
    for filters in (64, 128, 128, 256):
        x = layers.Conv1D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization(momentum=BN_MOMENTUM)(x))
        x = layers.MaxPooling1D(2)(x)
    x = layers.Dropout(0.3)(layers.GlobalAveragePooling1D()(x))
    return layers.Dense(n_classes, activation="softmax")(x)
