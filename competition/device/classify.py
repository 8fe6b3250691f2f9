"""Classifying recordings: each file of one clip's length as it is, a shorter one padded with silence,
a longer one by its loudest clip-long window (where a single word most likely is) or, with
`every-second`, by each clip-long window from the start, one result each. Every result says which
was done, so a label is never silently that of the first second only. A file that is not usable audio
gives an error result and the others go on. Shared by `run.py --classify` (any engine, any format
libsndfile reads) and the device's `classify` (its TFLite file, 16-bit WAV files); numpy only."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from .sources import AudioError, fix_length

TOP = 3
# How a recording became the clip(s) the model read
WHOLE = "whole"              # exactly one clip long
PADDED = "padded"            # shorter: silence added at the end
LOUDEST = "loudest"          # longer: its loudest clip-long window
EVERY_SECOND = "every-second"  # longer: each clip-long window from the start
LONG_RECORDINGS = (LOUDEST, EVERY_SECOND)
LOUDEST_GRID_S = 0.01  # where the loudest window may start: every 10 ms is fine enough for a word
WINDOWS_PER_BATCH = 64  # an hour's recording, every second, is scored a batch at a time


@dataclasses.dataclass(frozen=True)
class Classified:
    path: Path
    label: str | None = None
    top: tuple[tuple[str, float], ...] = ()
    error: str | None = None
    confidence: float | None = None  # the probability of the label given (under the task's decision)
    duration_s: float = 0.0     # the whole recording's
    window: str = WHOLE         # how the recording became the clip that was classified
    start_s: float = 0.0        # where that clip starts in the recording
    window_s: float = 1.0       # a clip's length

    def how(self) -> str:
        """What was classified, when it is not simply the recording."""
        length = "second" if self.window_s == 1 else f"{self.window_s:g} s"
        return {
            WHOLE: "",
            PADDED: f"{self.duration_s:.2f} s long, padded to one {length}: ",
            LOUDEST: f"{self.duration_s:.2f} s long, loudest {length} at {self.start_s:.2f} s: ",
            EVERY_SECOND: f"{self.duration_s:.2f} s long, {length} at {self.start_s:.2f} s: ",
        }[self.window]

    def line(self) -> str:
        if self.error:
            return f"error: {self.error}"
        top = ", ".join(f"{label} {p:.3f}" for label, p in self.top)
        return f"{self.path}: {self.how()}{self.label} ({top})"


def loudest_start(samples: np.ndarray, clip_samples: int, sample_rate: int) -> int:
    """The first sample of the clip-long window holding the most energy, on a grid of LOUDEST_GRID_S."""
    hop = max(1, round(LOUDEST_GRID_S * sample_rate))
    frames = len(samples) // hop
    energy = np.square(samples[:frames * hop].reshape(frames, hop), dtype=np.float64).sum(axis=1)
    span = max(1, min(frames, clip_samples // hop))
    running = np.concatenate([[0.0], np.cumsum(energy)])
    return int(np.argmax(running[span:] - running[:-span])) * hop


def windows(samples: np.ndarray, clip_samples: int, sample_rate: int, long_recordings: str) -> tuple[str, list[int]]:
    """How a recording is cut into clips, and where each clip starts."""
    if len(samples) <= clip_samples:
        return (WHOLE if len(samples) == clip_samples else PADDED), [0]
    if long_recordings == LOUDEST:
        return LOUDEST, [loudest_start(samples, clip_samples, sample_rate)]
    return EVERY_SECOND, list(range(0, len(samples), clip_samples))


def classify_each(files: Sequence[Path], load: Callable[[Path], np.ndarray],
                  probabilities: Callable[[np.ndarray], np.ndarray], decide: Callable[[np.ndarray], np.ndarray],
                  labels: Sequence[str], clip_samples: int, sample_rate: int,
                  long_recordings: str = LOUDEST) -> Iterator[Classified]:
    """Results in the order of the files (and of the windows in each). `load` reads a whole recording
    at the model's rate; `probabilities` takes (n, clip_samples) clips; `decide` turns probabilities
    into label names."""
    if long_recordings not in LONG_RECORDINGS:
        raise ValueError(f"long recordings are classified by {' or '.join(LONG_RECORDINGS)}; got {long_recordings!r}")
    for path in map(Path, files):
        if not path.is_file():
            yield Classified(path, error=f"{path}: no such file")
            continue
        try:
            samples = np.asarray(load(path), np.float32)
        except AudioError as error:
            yield Classified(path, error=str(error))
            continue
        window, starts = windows(samples, clip_samples, sample_rate, long_recordings)
        duration_s = len(samples) / sample_rate
        for first in range(0, len(starts), WINDOWS_PER_BATCH):
            batch = starts[first:first + WINDOWS_PER_BATCH]
            clips = np.stack([fix_length(samples[start:], clip_samples) for start in batch]).astype(np.float32)
            p = probabilities(clips)
            decided = decide(p)
            for start, label, row in zip(batch, decided, p):
                order = np.argsort(row)[::-1][:TOP]
                yield Classified(path, str(label), tuple((labels[i], float(row[i])) for i in order),
                                 confidence=float(row[list(labels).index(label)]), duration_s=duration_s,
                                 window=window, start_s=start / sample_rate, window_s=clip_samples / sample_rate)
