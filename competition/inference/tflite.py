"""The exported TensorFlow Lite files as engines (`tflite`, `tflite-int8`): audio in, probabilities out.

The folder's description (device.folder.ExportInfo, export/export.json) names what the files were
made from. Here, where the training files are, an export older than the trained model is refused,
so a model trained after its export is never run by mistake; a work folder holding the export
without the trained files (a copy made to run it elsewhere) trusts the export's own files, as
the device runtime does.
"""
from __future__ import annotations

import hashlib
import logging

from .. import PipelineError
from ..core.paths import Paths
from ..device.folder import ExportInfo, check_files
from ..device.model import TFLiteMember
from .config import InferenceConfig

__all__ = ["ExportInfo", "TFLiteEngine", "TFLiteMember", "model_digests"]

log = logging.getLogger(__name__)


def model_digests(paths: Paths, config: InferenceConfig) -> dict[str, str]:
    """sha256 of the inference config and of each member file the export was made from."""
    files = [paths.inference_config] + [paths.model_dir / name for name in config.model_files]
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


class TFLiteEngine:
    """An exported file (float32, or int8 with a float front end), checked against the model."""

    def __init__(self, name: str, int8: bool):
        self.name, self.int8 = name, int8

    def load(self, paths: Paths, config: InferenceConfig, listening: bool = False) -> list[TFLiteMember]:
        info = ExportInfo.load(paths.export_info)
        if all((paths.model_dir / name).is_file() for name in config.model_files):
            if info.source != model_digests(paths, config):
                raise PipelineError(f"{paths.export_dir} was exported from another model than the one in "
                                    f"{paths.model_dir} (retrained since?): run --stage export again")
        else:
            log.info("%s holds no trained model files: running the export in %s as it stands", paths.model_dir,
                     paths.export_dir)
        check_files(paths.export_dir, info)
        path = paths.export_dir / info.files[info.file_key(self.name, listening)]
        if not path.is_file():
            raise PipelineError(f"{path} is missing: run --stage export again")
        return [TFLiteMember(path)]
