"""Probabilities from trained members, averaged over members and test-time time shifts.

Engine-neutral arithmetic: a member is anything with predict_on_batch (see engines). Shared by
train (to calibrate on validation exactly as predict will run), predict and --classify; the
averaging of one batch is the device runtime's (device.model), so a device averages alike.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from tqdm import tqdm

from ..core.config import WAVE, AudioConfig
from ..device.model import Member, mean_probabilities

__all__ = ["Member", "frames_as_rows", "predict_probabilities", "tta_shifts"]

TTA_SHIFT_FRAMES = (-3, 0, 3)


def frames_as_rows(frames: Iterable[int], features: str, audio: AudioConfig) -> tuple[int, ...]:
    """Shifts given in frames, as rows of the cached features: frames of a spectrogram, samples of a waveform."""
    per_frame = audio.step_samples if features == WAVE else 1
    return tuple(frame * per_frame for frame in frames)


def tta_shifts(enabled: bool, features: str, audio: AudioConfig) -> tuple[int, ...]:
    """Shifts in rows of the cached features."""
    return frames_as_rows(TTA_SHIFT_FRAMES if enabled else (0,), features, audio)


def predict_probabilities(members: list[Member], x: np.ndarray, shifts: Iterable[int], n_classes: int,
                          batch_size: int = 512, progress: str | None = None) -> np.ndarray:
    """Read `x` (an array, a memory map or cache rows) a batch at a time, so memory stays bounded."""
    shifts = tuple(shifts)
    total = np.zeros((0, n_classes), np.float32) if len(x) == 0 else None
    starts = range(0, len(x), batch_size)
    for start in tqdm(starts, desc=progress, unit="batch") if progress else starts:
        batch = np.asarray(x[start:start + batch_size], dtype=np.float32)
        mean = mean_probabilities(members, batch, shifts)
        total = np.zeros((len(x), mean.shape[1]), np.float32) if total is None else total
        total[start:start + len(batch)] = mean
    return total
