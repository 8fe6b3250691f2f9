"""Model registry: names to builders, which inputs each reads, and build_model.

A builder is a pure function from the front end's output tensor and the class count to the
output tensor. Each entry says which inputs it reads (see core.config.FEATURE_KINDS):
log-power spectrograms, MFCCs (computed in the model from those spectrograms) or the
waveform at the model's rate.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras

from .. import PipelineError
from ..core.config import AudioConfig
from ..core.registry import Registry
from ..frontend.layers import MFCC

Builder = Callable[..., keras.KerasTensor]  # (inputs, n_classes, audio) -> outputs
N_MFCC = 13
N_MELS = 40


@dataclasses.dataclass(frozen=True)
class Entry:
    builder: Builder
    features: tuple[str, ...]  # what it can read; the first is its default


MODELS: Registry[Entry] = Registry("model")


def register(name: str, features: tuple[str, ...] = ("logspec", "mfcc")) -> Callable[[Builder], Builder]:
    def decorate(builder: Builder) -> Builder:
        MODELS.add(name, Entry(builder, features))
        return builder
    return decorate


def model_names() -> list[str]:
    return list(MODELS.names())


def _entry(name: str) -> Entry:
    return MODELS.get(name)


def default_features(name: str) -> str:
    return _entry(name).features[0]


def check_features(name: str, features: str) -> None:
    if features not in _entry(name).features:
        raise PipelineError(f"model {name} reads {' or '.join(_entry(name).features)} features; "
                            f"got --features {features}")


def build_model(name: str, audio: AudioConfig, n_classes: int, features: str = "logspec") -> keras.Model:
    """An uncompiled model reading one clip's cached features (audio.cache_shape(features))."""
    check_features(name, features)
    inputs = keras.Input(shape=audio.cache_shape(features))
    x = MFCC(n_mfcc=N_MFCC, n_mels=N_MELS, sample_rate=audio.target_rate)(inputs) if features == "mfcc" else inputs
    outputs = _entry(name).builder(x, n_classes, audio)
    return keras.Model(inputs, outputs, name=f"{name}_{features}".replace("-", "_"))
