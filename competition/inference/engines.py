"""Engines: what loads and runs a trained model, each a registry entry: `keras` (the trained
files, on cached features), `tflite` and `tflite-int8` (the exported files, on audio).

An engine turns the work folder and the inference config into members, each with
predict_on_batch -> probabilities (and takes_audio when it reads clips rather than the cache);
averaging them is engine-neutral (inference.ensemble), so an engine only loads and runs.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from .. import PipelineError
from ..core.paths import Paths
from ..core.registry import Registry
from .config import InferenceConfig
from .ensemble import Member
from .tflite import TFLiteEngine


class Engine(Protocol):
    name: str

    def load(self, paths: Paths, config: InferenceConfig, listening: bool = False) -> list[Member]:
        """The members; with `listening`, those with the listening head, where the model has them."""


class KerasMember:
    """A Keras model as a member: one concrete function whose batch dimension is left open.

    Keras's predict_on_batch traces a tf.function per new batch shape (a last, shorter batch is
    one), and TensorFlow counts those traces by the code of Keras's predict step, which every
    loaded model shares: an ensemble, or train then predict in one process, gets a retracing
    warning. A concrete function is traced once, here, and never counted. It runs the same call
    as Keras's predict step (the model in inference mode, compiled with XLA exactly when Keras
    would compile it), so the probabilities are the same.
    """

    def __init__(self, model):
        import tensorflow as tf  # TensorFlow loads only where a model runs

        self.model = model
        self.input_shape = tuple(model.input_shape)
        spec = tf.TensorSpec((None, *self.input_shape[1:]), tf.float32)
        jit = True if getattr(model, "jit_compile", False) else None  # as Keras's make_predict_function
        self._run = tf.function(lambda x: model(x, training=False), jit_compile=jit).get_concrete_function(spec)
        self._embed = None

    def predict_on_batch(self, x: np.ndarray) -> np.ndarray:
        return self._run(np.asarray(x, np.float32)).numpy()

    def embed(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """What the model's last Dense layer reads (its penultimate output), one row per clip."""
        if self._embed is None:
            import keras
            import tensorflow as tf

            dense = [i for i, layer in enumerate(self.model.layers) if isinstance(layer, keras.layers.Dense)]
            if not dense or dense[-1] == 0:
                raise PipelineError(f"model {self.model.name}: expected a model that ends in a Dense layer")
            embedder = keras.Model(inputs=self.model.inputs, outputs=self.model.layers[dense[-1] - 1].output)
            spec = tf.TensorSpec((None, *self.input_shape[1:]), tf.float32)
            self._embed = tf.function(lambda x: embedder(x, training=False)).get_concrete_function(spec)
        parts = [self._embed(np.asarray(x[i:i + batch_size], np.float32)).numpy() for i in range(0, len(x), batch_size)]
        embeddings = np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
        return embeddings.reshape(len(x), -1)

    def count_params(self) -> int:
        return self.model.count_params()


class KerasEngine:
    """The trained .keras files, run by Keras."""

    name = "keras"

    def load(self, paths: Paths, config: InferenceConfig, listening: bool = False) -> list[Member]:
        import keras  # TensorFlow loads only where a model runs

        from .. import models  # noqa: F401  registers the custom layers the saved models use

        model_dir, members = paths.model_dir, []
        for name in config.member_files(listening):
            if not (model_dir / name).exists():
                raise PipelineError(f"{model_dir / name} (a member listed in the inference config beside it) is "
                                    "missing: run --stage train again")
            try:
                model = keras.models.load_model(model_dir / name)
            except Exception as error:  # noqa: BLE001 - Keras passes on whatever its zip, JSON and HDF5 readers raise
                said = " ".join(str(error).split())  # Keras's messages run over several lines
                raise PipelineError(f"{model_dir / name}: not a loadable Keras model ({type(error).__name__}: "
                                    f"{said}); run --stage train again") from error
            members.append(KerasMember(model))
        return members


ENGINES: Registry[Engine] = Registry("engine")
ENGINES.add("keras", KerasEngine())
ENGINES.add("tflite", TFLiteEngine("tflite", int8=False))
ENGINES.add("tflite-int8", TFLiteEngine("tflite-int8", int8=True))


def engine_names() -> tuple[str, ...]:
    return ENGINES.names()


def get_engine(name: str) -> Engine:
    return ENGINES.get(name)
