"""The exported TensorFlow Lite files as engines (`tflite`, `tflite-int8`): audio in, probabilities out.

`ExportInfo` (export/export.json) is the contract between the export stage and these engines:
what the files were made from, so a model trained after its export is never run by mistake.
The interpreter is LiteRT's (`ai_edge_litert`): TensorFlow's own `tf.lite.Interpreter` is
deprecated in its favour, and LiteRT runs the files without loading TensorFlow at all.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from pathlib import Path

import numpy as np

from .. import PipelineError
from ..core.io import atomic_write_json, read_json_written_by
from ..core.native import native_output_logged
from ..core.paths import Paths
from .config import InferenceConfig

log = logging.getLogger(__name__)

# Bump when a field of export.json changes meaning.
EXPORT_INFO_VERSION = 1
# One thread a member: predict runs batches, a device runs one clip; both measured that way.
INTERPRETER_THREADS = 1


def model_digests(paths: Paths, config: InferenceConfig) -> dict[str, str]:
    """sha256 of the inference config and of each member file the export was made from."""
    files = [paths.inference_config] + [paths.model_dir / name for name in config.members]
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


@dataclasses.dataclass(frozen=True)
class ExportInfo:
    """Written last by the export stage; read by the TFLite engines."""

    source: dict[str, str]                 # model_digests() of the model it was exported from
    sample_rate: int                       # the input: float32 (batch, clip_samples) in [-1, 1]
    clip_samples: int
    labels: tuple[str, ...]                # the output's columns
    files: dict[str, str]                  # engine name -> file in the export folder
    float_ops_int8: tuple[str, ...]        # ops the int8 file runs in float (the front end)
    version: int = EXPORT_INFO_VERSION

    def save(self, path: Path) -> None:
        atomic_write_json(path, dataclasses.asdict(self))

    @classmethod
    def load(cls, path: Path) -> ExportInfo:
        data = read_json_written_by(path, "export")
        names = {field.name for field in dataclasses.fields(cls)}
        if not isinstance(data, dict) or data.get("version") != EXPORT_INFO_VERSION or names - set(data):
            raise PipelineError(f"{path}: expected an export description of version {EXPORT_INFO_VERSION} with "
                                f"{', '.join(sorted(names))}; run --stage export again")
        return cls(**{**{k: data[k] for k in names}, "labels": tuple(data["labels"]),
                      "float_ops_int8": tuple(data["float_ops_int8"])})


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


class TFLiteEngine:
    """An exported file (float32, or int8 with a float front end), checked against the model."""

    def __init__(self, name: str, int8: bool):
        self.name, self.int8 = name, int8

    def load(self, paths: Paths, config: InferenceConfig) -> list[TFLiteMember]:
        info = ExportInfo.load(paths.export_info)
        if info.source != model_digests(paths, config):
            raise PipelineError(f"{paths.export_dir} was exported from another model than the one in "
                                f"{paths.model_dir} (retrained since?): run --stage export again")
        path = paths.exported_model(self.int8)
        if not path.is_file():
            raise PipelineError(f"{path} is missing: run --stage export again")
        return [TFLiteMember(path)]
