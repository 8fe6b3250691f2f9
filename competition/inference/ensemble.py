"""Probabilities from trained members, averaged over members and test-time time shifts.

Engine-neutral arithmetic: a member is anything with predict_on_batch (see engines). Shared by
train (to calibrate on validation exactly as predict will run), predict and --classify.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np
from tqdm import tqdm

from ..core.config import WAVE, AudioConfig

TTA_SHIFT_FRAMES = (-3, 0, 3)


class Member(Protocol):
    input_shape: tuple  # (batch, *one clip's cached features), or (batch, clip_samples) when it takes audio
    # takes_audio: bool, optional; True for a member that reads raw clips (an exported model)

    def predict_on_batch(self, x: np.ndarray) -> np.ndarray: ...


def frames_as_rows(frames: Iterable[int], features: str, audio: AudioConfig) -> tuple[int, ...]:
    """Shifts given in frames, as rows of the cached features: frames of a spectrogram, samples of a waveform."""
    per_frame = audio.step_samples if features == WAVE else 1
    return tuple(frame * per_frame for frame in frames)


def tta_shifts(enabled: bool, features: str, audio: AudioConfig) -> tuple[int, ...]:
    """Shifts in rows of the cached features."""
    return frames_as_rows(TTA_SHIFT_FRAMES if enabled else (0,), features, audio)


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


def predict_probabilities(members: list[Member], x: np.ndarray, shifts: Iterable[int], n_classes: int,
                          batch_size: int = 512, progress: str | None = None) -> np.ndarray:
    """Read `x` (an array, a memory map or cache rows) a batch at a time, so memory stays bounded."""
    shifts = tuple(shifts)
    total = np.zeros((0, n_classes), np.float32) if len(x) == 0 else None
    starts = range(0, len(x), batch_size)
    for start in tqdm(starts, desc=progress, unit="batch") if progress else starts:
        batch = np.asarray(x[start:start + batch_size], dtype=np.float32)
        mean = (sum(m.predict_on_batch(shift_frames(batch, s)) for m in members for s in shifts)
                / (len(members) * len(shifts)))
        total = np.zeros((len(x), mean.shape[1]), np.float32) if total is None else total
        total[start:start + len(batch)] = mean
    return total
