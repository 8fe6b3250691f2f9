"""Where `--listen`'s audio comes from, a block at a time: a recording of any format, rate and
channel count (read through soundfile, never whole), or standard input (device.sources: raw
16 kHz 16-bit mono PCM, or a WAV stream).

Each source yields mono float32 blocks at its own rate (full scale 1, as `frontend.audio` reads
clips); `at_rate` brings any source to the model's rate with a resampler that keeps its state.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile

from ..device.sources import BLOCK_SECONDS, STDIN, AudioError, Source, at_rate, stdin_source

__all__ = ["STDIN", "Source", "at_rate", "file_source", "open_source"]

log = logging.getLogger(__name__)

_FLOAT_SUBTYPES = {"FLOAT", "DOUBLE"}


def open_source(path: str | Path, stdin: BinaryIO | None = None) -> Source:
    """`-` is standard input; anything else a recording, checked before it is read."""
    if str(path) == STDIN:
        return stdin_source(stdin)
    return file_source(Path(path))


def file_source(path: Path) -> Source:
    if not path.exists():
        raise AudioError(f"{path}: no such file (expected a recording to listen to, or - for PCM on standard input)")
    if not path.is_file():
        raise AudioError(f"{path}: not a file (expected a recording to listen to)")
    try:
        stream = soundfile.SoundFile(path)
    except Exception as error:  # libsndfile's errors, and TypeError / ValueError on odd headers
        raise AudioError(f"{path}: not a readable audio file ({type(error).__name__}: {error})") from error
    if stream.samplerate <= 0 or stream.frames == 0:
        stream.close()
        found = f"sample rate {stream.samplerate} Hz" if stream.samplerate <= 0 else "no samples"
        raise AudioError(f"{path}: {found}; expected a recording with samples at a positive rate")
    return Source(str(path), stream.samplerate, _file_blocks(path, stream), stream.frames / stream.samplerate)


def _file_blocks(path: Path, stream: soundfile.SoundFile) -> Iterator[np.ndarray]:
    checks_finite = stream.subtype in _FLOAT_SUBTYPES  # only float files can hold NaN or infinity
    size = max(1, int(BLOCK_SECONDS * stream.samplerate))
    with stream:
        while True:
            try:
                block = stream.read(size, dtype="float32", always_2d=True)
            except Exception as error:
                raise AudioError(f"{path}: not readable at {stream.tell() / stream.samplerate:.2f} s "
                                 f"({type(error).__name__}: {error})") from error
            if len(block) == 0:
                return
            if checks_finite and not np.isfinite(block).all():
                raise AudioError(f"{path}: NaN or infinite samples near {stream.tell() / stream.samplerate:.2f} s; "
                                 "expected finite audio")
            yield block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
