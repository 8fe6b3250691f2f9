"""BC-ResNet, the broadcasted residual network of Kim et al. (Interspeech 2021) for keyword spotting.

Each block convolves along frequency only (a depthwise 3-tap filter, then sub-spectral
normalisation: batch statistics of their own for each band of frequencies), and along time only on
the frequency-averaged features, whose output is broadcast back over every frequency and added. The
time filters are dilated more in each stage, so the last ones see most of the second while the
network stays small. Layout (batch, frames, bands, channels), as the other 2-D families.
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from ..core.config import AudioConfig
from ..frontend.layers import LogMel
from .families import BN_MOMENTUM, as_image
from .registry import N_MELS, register

# (blocks, channels per unit of width, frequency stride of the first block, time dilation)
STAGES = ((2, 8, 1, 1), (2, 12, 2, 2), (4, 16, 2, 4), (4, 20, 1, 8))
STEM_CHANNELS, HEAD_CHANNELS = 16, 32  # per unit of width
# The stem also strides over time (20 ms frames): at width 3 on every 10 ms frame a training step took
# 876 ms against the default model's 235 (batch 64, two CPU cores, timed side by side), too slow for a
# run of 30 minutes; striding, 319 against 151 (a quiet CPU).
STEM_TIME_STRIDE = 2
WIDTH = 3
SUB_BANDS = 5  # 40 mel bands -> 20, 10, 5 in the stages: 4, 2 and 1 band per sub-band
BLOCK_DROPOUT = 0.1


@keras.saving.register_keras_serializable(package="competition")
class SubSpectralNorm(layers.Layer):
    """Batch normalisation with statistics per channel and per sub-band of frequencies (Chang et al.,
    2021): the bands of a spectrogram differ too much for one mean and variance to serve them all.
    Input (batch, frames, bands, channels), bands a multiple of `sub_bands`."""

    def __init__(self, sub_bands: int, momentum: float = BN_MOMENTUM, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.sub_bands, self.momentum, self.epsilon = sub_bands, momentum, epsilon

    def build(self, input_shape):
        _, frames, bands, channels = input_shape
        if bands % self.sub_bands:
            raise ValueError(f"SubSpectralNorm: {bands} bands do not split into {self.sub_bands} sub-bands")
        shape = (1, 1, self.sub_bands, 1, channels)
        self.gamma = self.add_weight(shape=shape, initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=shape, initializer="zeros", name="beta")
        # kept in float32 under mixed precision, as BatchNormalization keeps its own
        self.moving_mean = self.add_weight(shape=shape, initializer="zeros", trainable=False, autocast=False,
                                           name="moving_mean")
        self.moving_variance = self.add_weight(shape=shape, initializer="ones", trainable=False, autocast=False,
                                               name="moving_variance")

    def call(self, x, training=False):
        _, frames, bands, channels = x.shape
        grouped = tf.reshape(x, (-1, frames, self.sub_bands, bands // self.sub_bands, channels))
        if training:
            mean, variance = tf.nn.moments(grouped, axes=(0, 1, 3), keepdims=True)
            self.moving_mean.assign(self.momentum * self.moving_mean + (1 - self.momentum) * mean)
            self.moving_variance.assign(self.momentum * self.moving_variance + (1 - self.momentum) * variance)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        scale = self.gamma * tf.math.rsqrt(variance + self.epsilon)
        return tf.reshape(grouped * scale + (self.beta - mean * scale), (-1, frames, bands, channels))

    def get_config(self):
        return {**super().get_config(), "sub_bands": self.sub_bands, "momentum": self.momentum,
                "epsilon": self.epsilon}


def _bn_relu(x):
    return layers.ReLU()(layers.BatchNormalization(momentum=BN_MOMENTUM)(x))


def _block(x, channels: int, stride: int, dilation: int):
    """One broadcasted residual block; a transition block (new channel count) has no identity path."""
    transition = x.shape[-1] != channels
    if transition:
        x = _bn_relu(layers.Conv2D(channels, 1, use_bias=False)(x))
    frequency = layers.DepthwiseConv2D((1, 3), strides=(1, stride), padding="same", use_bias=False)(x)
    frequency = SubSpectralNorm(SUB_BANDS)(frequency)
    time = layers.AveragePooling2D((1, frequency.shape[2]))(frequency)  # (frames, 1, channels)
    time = layers.DepthwiseConv2D((3, 1), dilation_rate=(dilation, 1), padding="same", use_bias=False)(time)
    time = layers.Activation("swish")(layers.BatchNormalization(momentum=BN_MOMENTUM)(time))
    time = layers.SpatialDropout2D(BLOCK_DROPOUT)(layers.Conv2D(channels, 1, use_bias=False)(time))
    branches = [frequency, time] if transition else [x, frequency, time]
    return layers.ReLU()(layers.Add()(branches))


def bc_resnet_body(image, n_classes: int, width: int, time_stride: int):
    x = layers.BatchNormalization(momentum=BN_MOMENTUM)(image)
    x = _bn_relu(layers.Conv2D(STEM_CHANNELS * width, 5, strides=(time_stride, 2), padding="same", use_bias=False)(x))
    for blocks, channels, stride, dilation in STAGES:
        for index in range(blocks):
            x = _block(x, channels * width, stride if index == 0 else 1, dilation)
    # the head: one depthwise filter over all the remaining bands (5 wide, valid) and 5 frames
    x = layers.ZeroPadding2D(((2, 2), (0, 0)))(x)
    x = layers.DepthwiseConv2D((5, x.shape[2]), use_bias=False)(x)
    x = _bn_relu(layers.Conv2D(HEAD_CHANNELS * width, 1, use_bias=False)(x))
    x = layers.GlobalAveragePooling2D()(x)
    return layers.Dense(n_classes, activation="softmax")(x)


@register("bc-resnet", features=("logspec",))
def bc_resnet(x, n_classes: int, audio: AudioConfig):
    """BC-ResNet-3 on 40 log-mel bands: broadcasted residual blocks with sub-spectral normalisation."""
    return bc_resnet_body(as_image(LogMel(n_mels=N_MELS, sample_rate=audio.target_rate)(x)), n_classes,
                          WIDTH, STEM_TIME_STRIDE)
