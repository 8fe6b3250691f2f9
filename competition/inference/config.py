"""The contract between train and predict: how to run the trained model (model/predict_config.json)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from .. import PipelineError
from ..core.config import FEATURE_KINDS, WAVE, AudioConfig
from ..core.io import atomic_write_json, read_json_written_by

# Bump when a field changes meaning; a file of another version is refused with a clear error.
INFERENCE_CONFIG_VERSION = 1


@dataclasses.dataclass(frozen=True)
class InferenceConfig:
    """Written by train after calibration; read by predict, --classify and the reports."""

    task: str
    members: tuple[str, ...]        # model files in the model folder, averaged
    tta_shifts: tuple[int, ...]     # rows of the cached features (frames, or samples of a waveform)
    unknown_threshold: float        # the task's calibrated decision threshold
    features: str                   # what the model reads (core.config.FEATURE_KINDS)
    feature_dtype: str              # the cache's dtype: inputs go through it, as in training
    audio: AudioConfig              # the front end's sizes the model was trained with
    version: int = INFERENCE_CONFIG_VERSION
    # the members with the listening head (models.open_set), which --listen runs; none: the members
    # themselves (a model trained before the head, or of a task without silence and unknown)
    listen_members: tuple[str, ...] = ()

    def member_files(self, listening: bool = False) -> tuple[str, ...]:
        """The members to run: with `listening`, those with the listening head where there are some."""
        return self.listen_members if listening and self.listen_members else self.members

    @property
    def model_files(self) -> tuple[str, ...]:
        """Every trained file in the model folder: the members and their listening models."""
        return (*self.members, *self.listen_members)

    def audio_shifts(self, shifts: tuple[int, ...] | None = None) -> tuple[int, ...]:
        """Shifts in rows of the cached features (default: the trained test-time shifts) as the
        same time in samples of the clip, for a model that reads audio."""
        shifts = self.tta_shifts if shifts is None else tuple(shifts)
        per_row = 1 if self.features == WAVE else self.audio.step_samples
        return tuple(s * per_row * self.audio.sample_rate // self.audio.target_rate for s in shifts)

    def save(self, path: Path) -> None:
        atomic_write_json(path, dataclasses.asdict(self))

    @classmethod
    def load(cls, path: Path) -> InferenceConfig:
        data = read_json_written_by(path, "train")
        if not isinstance(data, dict) or data.get("version") != INFERENCE_CONFIG_VERSION:
            found = data.get("version") if isinstance(data, dict) else type(data).__name__
            raise PipelineError(f"{path}: expected an inference config of version {INFERENCE_CONFIG_VERSION}, "
                                f"found version {found}; run --stage train again")
        optional = {"listen_members"}
        names = {field.name for field in dataclasses.fields(cls)}
        if missing := sorted(names - set(data) - optional):
            raise PipelineError(f"{path}: missing {', '.join(missing)}; run --stage train again")
        if data["features"] not in FEATURE_KINDS:
            raise PipelineError(f"{path}: features {data['features']!r}, expected one of {', '.join(FEATURE_KINDS)}; "
                                "run --stage train again")
        try:
            audio = AudioConfig(**data["audio"])
        except TypeError as error:
            raise PipelineError(f"{path}: audio settings {data['audio']} not understood ({error})") from error
        return cls(**{**{k: data[k] for k in names if k in data}, "members": tuple(data["members"]),
                      "tta_shifts": tuple(data["tta_shifts"]), "audio": audio,
                      "listen_members": tuple(data.get("listen_members", ()))})
