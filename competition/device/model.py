"""An exported file run by LiteRT's interpreter, and the arithmetic every engine shares: test-time
shifts, averaging over members and shifts, and the decision under the unknown threshold.

The interpreter is LiteRT's (`ai_edge_litert`): TensorFlow's own `tf.lite.Interpreter` is
deprecated in its favour, and LiteRT runs the files without loading TensorFlow at all.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from .. import PipelineError
from ..core.native import native_output_logged

log = logging.getLogger(__name__)

# One thread a member: predict runs batches, a device runs one clip; both measured that way.
INTERPRETER_THREADS = 1


class Member(Protocol):
    input_shape: tuple  # (batch, *one clip's cached features), or (batch, clip_samples) when it takes audio
    # takes_audio: bool, optional; True for a member that reads raw clips (an exported model)

    def predict_on_batch(self, x: np.ndarray) -> np.ndarray: ...


def interpreter(path: Path, threads: int = INTERPRETER_THREADS):
    from ai_edge_litert.interpreter import Interpreter

    try:
        with native_output_logged(log):
            return Interpreter(model_path=str(path), num_threads=threads)
    except ValueError as error:
        raise PipelineError(f"{path}: not a TensorFlow Lite model ({error}); run --stage export again") from error


class TFLiteMember:
    """One exported file: clips of audio in, probabilities out, any batch size."""

    takes_audio = True

    def __init__(self, path: Path):
        self.path = path
        self.interpreter = interpreter(path)
        details = self.interpreter.get_input_details()[0]
        self._input, self._output = details["index"], self.interpreter.get_output_details()[0]["index"]
        self.input_shape = (None, *(int(n) for n in details["shape_signature"][1:]))
        self._batch = None

    def predict_on_batch(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32)
        if x.shape[0] != self._batch:  # resizing re-plans the interpreter's memory: only when it changes
            self.interpreter.resize_tensor_input(self._input, list(x.shape))
            with native_output_logged(log):  # LiteRT announces its CPU delegate from C++ here
                self.interpreter.allocate_tensors()
            self._batch = x.shape[0]
        self.interpreter.set_tensor(self._input, x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output).copy()


def shift_frames(x: np.ndarray, shift: int) -> np.ndarray:
    """Move every example by `shift` rows, filling as training does: a spectrogram with its
    floor, a waveform with zeros."""
    if shift == 0:
        return x
    moved = np.empty_like(x)
    moved[:] = x.min(axis=tuple(range(1, x.ndim)), keepdims=True) if x.ndim > 2 else 0.0
    if shift > 0:
        moved[:, shift:] = x[:, :-shift]
    else:
        moved[:, :shift] = x[:, -shift:]
    return moved


def mean_probabilities(members: Sequence[Member], batch: np.ndarray, shifts: Sequence[int]) -> np.ndarray:
    """One batch's probabilities averaged over the members and the shifted copies."""
    return (sum(m.predict_on_batch(shift_frames(batch, s)) for m in members for s in shifts)
            / (len(members) * len(shifts)))


def decide(probabilities: np.ndarray, threshold: float, labels: Sequence[str], unknown: str | None) -> np.ndarray:
    """Class numbers: the most probable, except that one less confident than `threshold` becomes
    `unknown` (when the classes have one)."""
    predicted = probabilities.argmax(axis=1)
    if unknown is not None:
        predicted[probabilities.max(axis=1) < threshold] = list(labels).index(unknown)
    return predicted
