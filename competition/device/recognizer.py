"""From audio to windows, and from the windows' scores to detections.

`Windows` cuts overlapping one-second windows every hop from blocks of any size, keeping one window
of audio; `whole_words` marks the windows that hold a word with quiet around it. `Recognizer` is the
decision over time, in the manner of TensorFlow's `recognize_commands.py`: the scores of the last
few windows are averaged (one window's scores flicker as a word slides through it), the top class of
the average is a detection when it is a command scoring at least the threshold, and no detection
follows another within the suppression time (a word stays in view for several hops, and its average
stays high all that while).
"""
from __future__ import annotations

import collections
import dataclasses
import itertools
from collections.abc import Iterator, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..core.config import ListenConfig

FRAME_S = 0.01          # the loudness track's frames
LEAST_RISE_DB = 6.0     # a frame counts as sound when this far above the window's quiet at least


@dataclasses.dataclass(frozen=True)
class Detection:
    time_s: float       # end of the newest window in the average: when the command was recognised
    label: str
    confidence: float   # its averaged score

    def line(self) -> str:
        return f"{self.time_s:10.2f} s  {self.label:<6} {self.confidence:.5f}"


class Windows:
    """Windows of `length` samples ending every `hop` samples, the first ending at `length`."""

    def __init__(self, length: int, hop: int) -> None:
        if not 0 < hop <= length:
            raise ValueError(f"a hop of {hop} samples over {length}-sample windows; expected 0 < hop <= length")
        self.length, self.hop = length, hop
        self.buffer = np.zeros(0, np.float32)
        self.start = 0            # absolute index of buffer[0]
        self.next_end = length    # absolute end of the next window
        self.emitted = 0

    def push(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ends, windows): each complete window's end (absolute sample index) and its samples."""
        self.buffer = np.concatenate([self.buffer, np.asarray(block, np.float32)])
        available = self.start + len(self.buffer)
        count = 0 if available < self.next_end else (available - self.next_end) // self.hop + 1
        ends = self.next_end + self.hop * np.arange(count, dtype=np.int64)
        if count:
            first = self.next_end - self.length - self.start
            view = sliding_window_view(self.buffer[first:], self.length)[::self.hop][:count]
            windows = np.ascontiguousarray(view)
            self.next_end += self.hop * count
            self.emitted += count
        else:
            windows = np.zeros((0, self.length), np.float32)
        keep_from = self.next_end - self.length  # nothing before the next window's start is read again
        if keep_from > self.start:
            self.buffer = self.buffer[keep_from - self.start:]
            self.start = keep_from
        return ends, windows

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """A recording shorter than one window still gets one, padded with zeros (silence)."""
        if self.emitted or not len(self.buffer):
            return np.zeros(0, np.int64), np.zeros((0, self.length), np.float32)
        return self.push(np.zeros(self.next_end - self.start - len(self.buffer), np.float32))


def whole_words(windows: np.ndarray, rate: int, pause_ms: int) -> np.ndarray:
    """For each window (n, samples): does it hold a whole word, sound with at least `pause_ms` of quiet
    before and after it, all inside the window? A command said on its own does, in some window of the
    few a hop apart that see it; a piece of connected speech seldom does, since its words run into each
    other with shorter pauses than that.

    Each window is cut into 10 ms frames; a frame is sound when its level (dB) is above the window's
    quiet (its 10th percentile) by half the window's range, and by at least 6 dB; sounds less than
    `pause_ms` apart are one sound."""
    windows = np.asarray(windows, np.float32)
    frame = max(1, round(FRAME_S * rate))
    count = windows.shape[1] // frame
    pause = max(1, int(np.ceil(pause_ms / 1000 / FRAME_S)))
    level = 10 * np.log10(np.mean(np.square(windows[:, :count * frame].reshape(len(windows), count, frame),
                                            dtype=np.float64), axis=2) + 1e-10)
    quiet = np.percentile(level, 10, axis=1, keepdims=True)
    loud = level.max(axis=1, keepdims=True)
    sound = level > quiet + np.maximum(LEAST_RISE_DB, (loud - quiet) / 2)
    return np.array([_has_whole_sound(row, pause) for row in sound], dtype=bool)


def _has_whole_sound(sound: np.ndarray, pause: int) -> bool:
    """Is one run of sound frames (gaps shorter than `pause` bridged) at least `pause` frames from both ends?"""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], sound.astype(np.int8), [0]))))
    starts, ends = edges[0::2], edges[1::2]  # each run [start, end)
    if not len(starts):
        return False
    keep = np.concatenate(([True], starts[1:] - ends[:-1] >= pause))  # a run after a short gap joins the one before
    starts, ends = starts[keep], np.maximum.reduceat(ends, np.flatnonzero(keep))
    return bool(np.any((starts >= pause) & (ends <= len(sound) - pause)))


class Recognizer:
    """Average the last `average` windows' scores; a command whose average reaches `threshold`
    is reported once its average stops rising (at most `peak` windows later), with the label it
    had at its peak; no detection within `suppression_s` of the previous one. Windows may come
    with a mark each (`whole`: from `whole_words`); then only a command whose averaged windows
    include a marked one counts.

    Waiting for the peak matters because the first windows to cross the threshold hold only part
    of the word ("up" half heard looks like "off"); at the peak the word sits nearest the middle
    of the window, where every training clip had it.
    """

    def __init__(self, labels: Sequence[str], commands: Sequence[str], average: int, threshold: float,
                 suppression_s: float, peak: int = 0) -> None:
        if average < 1 or peak < 0:
            raise ValueError(f"averaging over {average} windows, waiting {peak} for a peak; expected >= 1 and >= 0")
        self.labels = list(labels)
        self.is_command = np.array([label in set(commands) for label in self.labels])
        self.threshold, self.suppression_s, self.peak = threshold, suppression_s, peak
        self.recent: collections.deque[np.ndarray] = collections.deque()
        self.average = average
        self.total = np.zeros(len(self.labels))  # the sum of `recent`, kept as they come and go
        self.last_time: float | None = None
        self.since_whole = average  # windows since the last one marked whole: none among the averaged yet
        self.pending: tuple[int, float, int] | None = None  # (class, averaged score, windows waited)
        self.now = 0.0

    @classmethod
    def configured(cls, labels: Sequence[str], commands: Sequence[str], config: ListenConfig) -> Recognizer:
        """The settings in windows: the windows that end within the last --listen-average-ms (at least
        one), and as many as fit in --listen-peak-ms."""
        hop = config.listen_hop_ms
        return cls(labels, commands, average=max(1, config.listen_average_ms // hop),
                   threshold=config.listen_threshold, suppression_s=config.listen_suppression_ms / 1000,
                   peak=config.listen_peak_ms // hop)

    def update(self, time_s: float, scores: np.ndarray, whole: bool = True) -> Detection | None:
        scores = np.asarray(scores, np.float64)
        self.since_whole = 0 if whole else self.since_whole + 1
        self.recent.append(scores)
        self.total += scores
        if len(self.recent) > self.average:
            self.total -= self.recent.popleft()
        average = self.total / len(self.recent)
        top = int(np.argmax(average))
        above = bool(self.is_command[top]) and average[top] >= self.threshold and self.since_whole < self.average
        self.now = time_s
        if self.pending is not None:
            best, best_score, waited = self.pending
            waited += 1
            if above and average[top] > best_score:  # still rising: the word is still coming into view
                best, best_score = top, float(average[top])
                if waited < self.peak:
                    self.pending = (best, best_score, waited)
                    return None
            return self._report(time_s, best, best_score)
        if not above or (self.last_time is not None and time_s - self.last_time < self.suppression_s):
            return None
        if self.peak == 0:
            return self._report(time_s, top, float(average[top]))
        self.pending = (top, float(average[top]), 0)
        return None

    def _report(self, time_s: float, label: int, score: float) -> Detection:
        self.pending = None
        self.last_time = time_s
        return Detection(float(time_s), self.labels[label], score)

    def finish(self) -> Detection | None:
        """The stream ended while a command was waiting for its peak: report it as it stands."""
        return self._report(self.now, *self.pending[:2]) if self.pending is not None else None

    def run(self, times: Sequence[float], scores: np.ndarray,
            whole: Sequence[bool] | None = None) -> Iterator[Detection]:
        marks = itertools.repeat(True) if whole is None else whole
        for time_s, row, mark in zip(times, scores, marks):
            if (detection := self.update(time_s, row, bool(mark))) is not None:
                yield detection
