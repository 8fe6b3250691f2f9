"""Engines: what loads and runs a trained model, each a registry entry: `keras` (the trained
files, on cached features), `tflite` and `tflite-int8` (the exported files, on audio).

An engine turns the work folder and the inference config into members, each with
predict_on_batch -> probabilities (and takes_audio when it reads clips rather than the cache);
averaging them is engine-neutral (inference.ensemble), so an engine only loads and runs.
"""
from __future__ import annotations

from typing import Protocol

from .. import PipelineError
from ..core.paths import Paths
from ..core.registry import Registry
from .config import InferenceConfig
from .ensemble import Member
from .tflite import TFLiteEngine


class Engine(Protocol):
    name: str

    def load(self, paths: Paths, config: InferenceConfig) -> list[Member]: ...


class KerasEngine:
    """The trained .keras files, run by Keras."""

    name = "keras"

    def load(self, paths: Paths, config: InferenceConfig) -> list[Member]:
        import keras  # TensorFlow loads only where a model runs

        from .. import models  # noqa: F401  registers the custom layers the saved models use

        model_dir, members = paths.model_dir, []
        for name in config.members:
            if not (model_dir / name).exists():
                raise PipelineError(f"{model_dir / name} (a member listed in the inference config beside it) is "
                                    "missing: run --stage train again")
            members.append(keras.models.load_model(model_dir / name))
        return members


ENGINES: Registry[Engine] = Registry("engine")
ENGINES.add("keras", KerasEngine())
ENGINES.add("tflite", TFLiteEngine("tflite", int8=False))
ENGINES.add("tflite-int8", TFLiteEngine("tflite-int8", int8=True))


def engine_names() -> tuple[str, ...]:
    return ENGINES.names()


def get_engine(name: str) -> Engine:
    return ENGINES.get(name)
