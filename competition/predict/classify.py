"""--classify: recordings of any rate, channel count or length, or folders of them, with the trained
model(s) and any engine, and the CSV of the results. How a recording becomes clips (padded, its loudest
second, or every second) is device.classify's, which the device's own classify shares."""
from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

from .. import PipelineError
from ..core.config import Settings
from ..core.io import atomic_write_text
from ..core.paths import Paths
from ..device.classify import LONG_RECORDINGS, LOUDEST, Classified, classify_each
from ..frontend.audio import AUDIO_SUFFIXES, load_recording
from ..inference.predictor import Predictor

log = logging.getLogger(__name__)

__all__ = ["LONG_RECORDINGS", "LOUDEST", "Classified", "classify", "recordings", "write_csv"]

CSV_COLUMNS = ("path", "duration_s", "window", "start_s", "label", "confidence", "error")


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


def classify(paths: Paths, settings: Settings, files: list[Path],
             long_recordings: str = LOUDEST) -> Iterator[Classified]:
    """Results in the order of the files (and of the windows in each); a file that is not usable
    audio gives an error result and the others go on."""
    if long_recordings not in LONG_RECORDINGS:
        raise PipelineError(f"long recordings are classified by {' or '.join(LONG_RECORDINGS)}; "
                            f"got {long_recordings!r}")
    predictor = Predictor.load(paths, settings.engine)
    audio = predictor.config.audio  # what the model was trained on, not what today's flags say
    yield from classify_each(files, lambda path: load_recording(path, audio), predictor.probabilities_of_clips,
                             predictor.decide, predictor.labels, audio.clip_samples, audio.sample_rate,
                             long_recordings)


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
