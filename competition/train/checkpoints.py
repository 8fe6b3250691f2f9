"""Training checkpoints: the state after the last finished epoch, so that a killed run resumes exactly."""
from __future__ import annotations

import json
import logging

import keras
import numpy as np

from ..core.io import atomic_path, atomic_write_json
from ..core.paths import Paths

log = logging.getLogger(__name__)


def _seed_states(model: keras.Model) -> dict[str, list[int]]:
    # Keras re-seeds dropout's generators when it loads a model; keep their state ourselves.
    return {v.path: [int(i) for i in v.numpy()] for v in model.non_trainable_variables if "seed_generator" in v.path}


class Checkpoint:
    """The state after the last finished epoch of the member in training, so that a killed run
    continues where it stopped. Valid only for the settings and features it was made with."""

    def __init__(self, paths: Paths, fingerprint: dict):
        self.model_file = paths.checkpoint_model
        self.state_file = paths.checkpoint_state
        self.fingerprint = fingerprint

    def load(self) -> dict | None:
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        if state.get("fingerprint") != self.fingerprint or not self.model_file.exists():
            log.info("ignoring a training checkpoint made with other settings or features")
            return None
        return state

    def save(self, model: keras.Model, state: dict) -> None:
        with atomic_path(self.model_file) as temp:
            model.save(temp)
        atomic_write_json(self.state_file, {**state, "fingerprint": self.fingerprint, "seeds": _seed_states(model)})

    def restore_model(self, state: dict) -> keras.Model:
        model = keras.models.load_model(self.model_file)
        for variable in model.non_trainable_variables:
            if variable.path in state["seeds"]:
                variable.assign(np.array(state["seeds"][variable.path], dtype=variable.dtype))
        return model

    def clear(self) -> None:
        self.model_file.unlink(missing_ok=True)
        self.state_file.unlink(missing_ok=True)
