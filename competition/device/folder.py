"""The exported folder and its description, export.json: the contract between the export stage and
whatever runs the folder (the pipeline's TFLite engines, the device runtime).

The folder is all a device needs: the two model files, labels.txt, and in export.json how to feed
them and decide (rate, clip length, test-time shifts, the unknown threshold) and how to listen
(the recogniser's operating point), with a digest of every file, so that a file lost or swapped
in a copy is named rather than run. Whether the export is still the trained model's is checked
where the training files are (inference.tflite); a device trusts the folder's own files.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from .. import PipelineError
from ..core.config import ListenConfig
from ..core.io import atomic_write_json, read_json_written_by

# Bump when a field of export.json changes meaning.
EXPORT_INFO_VERSION = 3
INFO_FILE = "export.json"
# the listener's false accepts an hour and commands missed per threshold (device.operating_point)
POINTS_FILE = "operating_points.csv"
# The recogniser's settings, as ListenConfig names them (its engine is the reader's choice); an export
# written before one with a default existed listens with that default.
LISTEN_FIELDS = tuple(field.name for field in dataclasses.fields(ListenConfig) if field.name != "engine")
REQUIRED_LISTEN_FIELDS = tuple(field.name for field in dataclasses.fields(ListenConfig)
                               if field.name in LISTEN_FIELDS and field.default is dataclasses.MISSING)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


LISTENING = "listening-"


@dataclasses.dataclass(frozen=True)
class ExportInfo:
    """Written last by the export stage, into the folder it describes."""

    source: dict[str, str]                 # sha256 of the training files it was exported from
    sample_rate: int                       # the input: float32 (batch, clip_samples) in [-1, 1]
    clip_samples: int
    labels: tuple[str, ...]                # the output's columns
    files: dict[str, str]                  # engine name -> file in the export folder; LISTENING + engine name:
                                           # the same with the listening head (models.open_set), which listens
    digests: dict[str, str]                # sha256 of every other file of the folder (models, labels)
    float_ops_int8: tuple[str, ...]        # ops the int8 file runs in float (the front end)
    tta_shifts: tuple[int, ...]            # test-time shifts in samples, zero-filled; probabilities averaged
    unknown_threshold: float               # below it, the most probable class becomes unknown_label
    silence_label: str | None              # the task's silence and unknown classes (None: it has none)
    unknown_label: str | None
    listen: dict[str, float]               # the recogniser's settings (LISTEN_FIELDS), its threshold chosen
    version: int = EXPORT_INFO_VERSION

    def save(self, path: Path) -> None:
        atomic_write_json(path, dataclasses.asdict(self))

    @classmethod
    def load(cls, path: Path) -> ExportInfo:
        data = read_json_written_by(path, "export")
        names = {field.name for field in dataclasses.fields(cls)}
        if (not isinstance(data, dict) or data.get("version") != EXPORT_INFO_VERSION or names - set(data)
                or not isinstance(data["listen"], dict) or set(REQUIRED_LISTEN_FIELDS) - set(data["listen"])):
            raise PipelineError(f"{path}: expected an export description of version {EXPORT_INFO_VERSION} with "
                                f"{', '.join(sorted(names))}; run --stage export again")
        return cls(**{**{k: data[k] for k in names}, "labels": tuple(data["labels"]),
                      "float_ops_int8": tuple(data["float_ops_int8"]), "tta_shifts": tuple(data["tta_shifts"])})

    def file_key(self, engine: str, listening: bool = False) -> str:
        """The key in `files` of what `engine` runs: with `listening`, the model with the listening head,
        where the export has one (an older export listens with the model itself)."""
        return LISTENING + engine if listening and LISTENING + engine in self.files else engine

    def listen_config(self, engine: str) -> ListenConfig:
        return ListenConfig(engine=engine, **{name: self.listen[name] for name in LISTEN_FIELDS if name in self.listen})

    @property
    def commands(self) -> list[str]:
        """The classes a listener reports: all but silence and unknown."""
        return [label for label in self.labels if label not in (self.silence_label, self.unknown_label)]


def open_folder(folder: Path) -> ExportInfo:
    """The folder's description, after checking that every file it names is there and is the one
    exported (a file lost, or swapped for another export's, in a copy is named)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PipelineError(f"{folder}: not a folder; expected the folder --stage export writes (export/ in the "
                            "work folder), copied whole")
    if not (folder / INFO_FILE).is_file():
        raise PipelineError(f"{folder / INFO_FILE} is missing: expected the folder --stage export writes, copied "
                            "whole")
    info = ExportInfo.load(folder / INFO_FILE)
    check_files(folder, info)
    return info


def check_files(folder: Path, info: ExportInfo) -> None:
    for name, digest in info.digests.items():
        path = folder / name
        if not path.is_file():
            raise PipelineError(f"{path} is missing: copy the export folder whole")
        if sha256(path) != digest:
            raise PipelineError(f"{path}: not the file {INFO_FILE} beside it describes (its sha256 differs: from "
                                "another export, or changed since); copy the export folder whole again")
