"""Engines: what loads and runs a trained model, each a registry entry. Today: `keras`.

An engine turns the model folder and its inference config into members, each with
predict_on_batch(cached features) -> probabilities; averaging them is engine-neutral
(inference.ensemble), so a new engine (TensorFlow Lite, say) only loads and runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

from .. import PipelineError
from ..core.registry import Registry
from .config import InferenceConfig
from .ensemble import Member


class Engine(Protocol):
    name: str

    def load(self, model_dir: Path, config: InferenceConfig) -> list[Member]: ...


class KerasEngine:
    """The trained .keras files, run by Keras."""

    name = "keras"

    def load(self, model_dir: Path, config: InferenceConfig) -> list[Member]:
        import keras  # TensorFlow loads only where a model runs

        from .. import models  # noqa: F401  registers the custom layers the saved models use

        members = []
        for name in config.members:
            if not (model_dir / name).exists():
                raise PipelineError(f"{model_dir / name} (a member listed in the inference config beside it) is "
                                    "missing: run --stage train again")
            members.append(keras.models.load_model(model_dir / name))
        return members


ENGINES: Registry[Engine] = Registry("engine")
ENGINES.add("keras", KerasEngine())


def engine_names() -> tuple[str, ...]:
    return ENGINES.names()


def get_engine(name: str) -> Engine:
    return ENGINES.get(name)
