"""Listening: a source's blocks -> one-second windows every hop -> scores -> detections, and the
detections CSV. One loop for `run.py --listen` (any engine) and the device's `listen` (its
TFLite file), so both find the same commands in the same audio.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from .. import PipelineError
from ..core.config import ListenConfig
from .recognizer import Detection, Recognizer, Windows, whole_words
from .sources import Source, at_rate

log = logging.getLogger(__name__)

CSV_HEADER = "time_s,label,confidence,threshold\n"
LARGEST_BATCH = 16


def batches(count: int) -> list[tuple[int, int]]:
    """(start, size) of batches whose sizes are powers of two up to LARGEST_BATCH: a model that is
    compiled once per batch shape (Keras' predict function) then meets at most five shapes, however
    the blocks of a live stream happen to arrive, and no window is computed twice or padded."""
    out, start = [], 0
    while start < count:
        size = min(LARGEST_BATCH, 1 << ((count - start).bit_length() - 1))
        out.append((start, size))
        start += size
    return out


class Listening:
    """One pass over one source: `score` turns (n, clip_samples) windows at `rate` into (n, classes)
    probabilities in `labels` order. After it, `seconds` of audio took `wall_s` to process, `cpu_s`
    of this process's CPU time (the fairer measure on a machine shared with other work)."""

    def __init__(self, source: Source, live: bool, score: Callable[[np.ndarray], np.ndarray], rate: int,
                 clip_samples: int, labels: Sequence[str], commands: Sequence[str], config: ListenConfig) -> None:
        self.source, self.live, self.score, self.rate = source, live, score, rate
        self.windows = Windows(clip_samples, max(1, round(config.listen_hop_ms * rate / 1000)))
        if config.listen_threshold is None:
            raise ValueError("a listener needs its threshold: resolve the operating point first")
        self.recognizer = Recognizer.configured(labels, commands, config)
        self.threshold = config.listen_threshold
        self.pause_ms = config.listen_pause_ms
        self.seconds = 0.0
        self.wall_s = 0.0
        self.cpu_s = 0.0

    def _detect(self, ends: np.ndarray, windows: np.ndarray) -> Iterator[Detection]:
        if not len(ends):
            return
        scores = np.concatenate([self.score(windows[start:start + size]) for start, size in batches(len(windows))])
        whole = whole_words(windows, self.rate, self.pause_ms) if self.pause_ms else None
        yield from self.recognizer.run(ends / self.rate, scores, whole)

    def run(self, progress=None) -> Iterator[Detection]:
        """Detections in time order, each as soon as its window is scored; `progress` (a tqdm bar)
        is advanced by the seconds read."""
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            for block in at_rate(self.source, self.rate):
                yield from self._detect(*self.windows.push(block))
                self.seconds += len(block) / self.rate
                if progress is not None:
                    progress.update(len(block) / self.rate)
        except KeyboardInterrupt:
            if not self.live:
                raise
            # A live stream ends with Ctrl-C (arecord | listen gets it too): what was heard is the recording.
            log.info("interrupted: the stream ends at %.2f s", self.seconds)
        yield from self._detect(*self.windows.finish())
        if (last := self.recognizer.finish()) is not None:
            yield last
        self.wall_s = time.perf_counter() - started
        self.cpu_s = time.process_time() - cpu_started
        log.info("listened to %.1f s of %s in %.1f s, %.1f s of CPU time (%.1fx real time)", self.seconds,
                 self.source.name, self.wall_s, self.cpu_s, self.seconds / max(self.wall_s, 1e-9))


@contextlib.contextmanager
def detections_csv(path: Path, threshold: float) -> Iterator:
    """Write detections as they come to `path`.partial (flushed, so a long live session can be
    followed), renamed to `path` only when the stream ended normally. After a crash or a kill
    `path` is untouched and the partial file says by its name that it is not complete. Each row
    carries the threshold it was detected at: a file of detections says its operating point."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(partial, "w", encoding="utf-8")  # noqa: SIM115 - closed below, before the rename
    except OSError as error:
        raise PipelineError(f"{partial}: cannot write the detections here ({error.strerror})") from error

    def write(detection: Detection) -> None:
        handle.write(f"{detection.time_s:.3f},{detection.label},{detection.confidence:.6f},{threshold:g}\n")
        handle.flush()

    completed = False
    try:
        handle.write(CSV_HEADER)
        yield write
        completed = True
    finally:
        handle.close()
        if completed:
            os.replace(partial, path)
        else:
            log.warning("the stream did not end normally: the detections so far are in %s, and %s was not written",
                        partial, path)
