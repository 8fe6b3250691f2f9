"""The model families of the registry: seed-cnn, cnn, mel-cnn, dense and conv1d (bc-resnet has its own module)."""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from ..core.config import AudioConfig
from ..frontend.layers import LogMel
from .registry import N_MELS, register


def as_image(x):
    """(frames, bins) -> (frames, bins, 1) for 2-D convolutions."""
    return layers.Reshape((*x.shape[1:], 1))(x)


@register("seed-cnn")
def seed_cnn(x, n_classes: int, audio: AudioConfig):
    """The notebook recipe this project grew from: small convolutions, flatten, two dense layers."""
    x = layers.BatchNormalization()(as_image(x))
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


def _vgg_body(image, n_classes: int):
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
def cnn(x, n_classes: int, audio: AudioConfig):
    """A batch-normalised VGG-style CNN with global pooling, small enough for a CPU."""
    return _vgg_body(as_image(x), n_classes)


@register("mel-cnn", features=("logspec",))
def mel_cnn(x, n_classes: int, audio: AudioConfig):
    """The batch-normalised CNN on 40 log-mel bands: much faster than on the linear bins."""
    return _vgg_body(as_image(LogMel(n_mels=N_MELS, sample_rate=audio.target_rate)(x)), n_classes)


@keras.saving.register_keras_serializable(package="competition")
class PoolOverTime(layers.Layer):
    """(frames, bands) -> mean and standard deviation of each band over time, side by side."""

    def call(self, x):
        return tf.concat([tf.reduce_mean(x, axis=1), tf.math.reduce_std(x, axis=1)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * input_shape[-1])


@register("dense", features=("mfcc", "logspec"))
def dense(x, n_classes: int, audio: AudioConfig):
    """A dense network on features pooled over time: the baselines' recipe, learnt end to end."""
    x = layers.BatchNormalization(momentum=BN_MOMENTUM)(PoolOverTime()(x))
    for units in (256, 256):
        x = layers.Dense(units, use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization(momentum=BN_MOMENTUM)(x))
        x = layers.Dropout(0.3)(x)
    return layers.Dense(n_classes, activation="softmax")(x)


@register("conv1d", features=("wave",))
def conv1d(x, n_classes: int, audio: AudioConfig):
    """A raw-waveform 1-D CNN (M5-style: a wide strided first filter that
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
