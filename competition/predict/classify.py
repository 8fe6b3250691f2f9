"""--classify: label recordings of any rate, channel count or length, or folders of them, with the
trained model(s).

A recording of one clip's length is classified as it is, a shorter one padded with silence. A
longer one is cut into clips: by default the loudest clip-long window (where a single word most
likely is), or with `every-second` each clip-long window from the start, one result each. Every
result says which was done, so a label is never silently that of the first second only.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from .. import PipelineError
from ..core.config import AudioConfig, Settings
from ..core.io import atomic_write_text
from ..core.paths import Paths
from ..frontend.audio import AUDIO_SUFFIXES, AudioError, fix_length, load_recording
from ..inference.predictor import Predictor

log = logging.getLogger(__name__)

TOP = 3
# How a recording became the clip(s) the model read
WHOLE = "whole"              # exactly one clip long
PADDED = "padded"            # shorter: silence added at the end
LOUDEST = "loudest"          # longer: its loudest clip-long window
EVERY_SECOND = "every-second"  # longer: each clip-long window from the start
LONG_RECORDINGS = (LOUDEST, EVERY_SECOND)
LOUDEST_GRID_S = 0.01  # where the loudest window may start: every 10 ms is fine enough for a word
WINDOWS_PER_BATCH = 64  # an hour's recording, every second, is scored a batch at a time
CSV_COLUMNS = ("path", "duration_s", "window", "start_s", "label", "confidence", "error")


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


def recordings(given: Iterable[Path]) -> list[Path]:
    """The files to classify: each file as given, and every recording under each folder, sorted."""
    files: list[Path] = []
    for path in map(Path, given):
        if not path.is_dir():
            files.append(path)  # a missing file is reported in its turn, as an unreadable one is
            continue
        found = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        if not found:
            raise PipelineError(f"{path}: a folder with no recording under it; expected files ending in "
                                f"{', '.join(AUDIO_SUFFIXES)} (searched its subfolders too)")
        files.extend(found)
    return files


def loudest_start(samples: np.ndarray, audio: AudioConfig) -> int:
    """The first sample of the clip-long window holding the most energy, on a grid of LOUDEST_GRID_S."""
    hop = max(1, round(LOUDEST_GRID_S * audio.sample_rate))
    frames = len(samples) // hop
    energy = np.square(samples[:frames * hop].reshape(frames, hop), dtype=np.float64).sum(axis=1)
    span = max(1, min(frames, audio.clip_samples // hop))
    running = np.concatenate([[0.0], np.cumsum(energy)])
    return int(np.argmax(running[span:] - running[:-span])) * hop


def windows(samples: np.ndarray, audio: AudioConfig, long_recordings: str) -> tuple[str, list[int]]:
    """How a recording is cut into clips, and where each clip starts."""
    clip = audio.clip_samples
    if len(samples) <= clip:
        return (WHOLE if len(samples) == clip else PADDED), [0]
    if long_recordings == LOUDEST:
        return LOUDEST, [loudest_start(samples, audio)]
    return EVERY_SECOND, list(range(0, len(samples), clip))


def classify(paths: Paths, settings: Settings, files: list[Path],
             long_recordings: str = LOUDEST) -> Iterator[Classified]:
    """Results in the order of the files (and of the windows in each); a file that is not usable
    audio gives an error result and the others go on."""
    if long_recordings not in LONG_RECORDINGS:
        raise PipelineError(f"long recordings are classified by {' or '.join(LONG_RECORDINGS)}; "
                            f"got {long_recordings!r}")
    predictor = Predictor.load(paths, settings.engine)
    audio = predictor.config.audio  # what the model was trained on, not what today's flags say
    for path in map(Path, files):
        if not path.is_file():
            yield Classified(path, error=f"{path}: no such file")
            continue
        try:
            samples = np.asarray(load_recording(path, audio), np.float32)
        except AudioError as error:
            yield Classified(path, error=str(error))
            continue
        window, starts = windows(samples, audio, long_recordings)
        duration_s = len(samples) / audio.sample_rate
        for first in range(0, len(starts), WINDOWS_PER_BATCH):
            batch = starts[first:first + WINDOWS_PER_BATCH]
            clips = np.stack([fix_length(samples[start:], audio.clip_samples) for start in batch])
            probabilities = predictor.probabilities_of_clips(clips)
            labels = predictor.decide(probabilities)
            for start, label, row in zip(batch, labels, probabilities):
                order = np.argsort(row)[::-1][:TOP]
                yield Classified(path, str(label), tuple((predictor.labels[i], float(row[i])) for i in order),
                                 confidence=float(row[predictor.labels.index(label)]), duration_s=duration_s,
                                 window=window, start_s=start / audio.sample_rate, window_s=audio.clip_seconds)


def write_csv(path: Path, results: list[Classified]) -> None:
    """One row per result (a failed file's with its error), written whole or not at all."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in results:
        if r.error:
            writer.writerow([r.path, "", "", "", "", "", r.error])
        else:
            writer.writerow([r.path, f"{r.duration_s:.3f}", r.window, f"{r.start_s:.3f}", r.label,
                             f"{r.confidence:.4f}", ""])
    try:
        atomic_write_text(path, text.getvalue())
    except OSError as error:
        raise PipelineError(f"{path}: cannot write the classifications here ({error.strerror or error})") from error
