"""Where the audio comes from, a block at a time: a recording of any format, rate and channel
count (read through soundfile, never whole), or raw 16 kHz 16-bit mono PCM on standard input.

Each source yields mono float32 blocks at its own rate (full scale 1, as `frontend.audio` reads
clips); `at_rate` brings any source to the model's rate with a resampler that keeps its state.
"""
from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile

from ..frontend.audio import AudioError
from .resample import StreamResampler

log = logging.getLogger(__name__)

STDIN = "-"
STDIN_RATE = 16_000     # what `arecord -f S16_LE -r 16000 -c 1` sends
BLOCK_SECONDS = 2.0     # a file's blocks: long enough that the model sees its windows in batches
_FLOAT_SUBTYPES = {"FLOAT", "DOUBLE"}


@dataclasses.dataclass
class Source:
    """A stream of mono float32 blocks at `rate`; `seconds` is its length when known (a file)."""

    name: str
    rate: int
    blocks: Iterator[np.ndarray]
    seconds: float | None = None


def open_source(path: str | Path, stdin: BinaryIO | None = None) -> Source:
    """`-` is raw PCM on standard input; anything else a recording, checked before it is read."""
    if str(path) == STDIN:
        if stdin is None and sys.stdin.isatty():
            raise AudioError("standard input is a terminal; expected raw 16 kHz 16-bit mono PCM piped in "
                             "(arecord -f S16_LE -r 16000 -c 1 | python run.py --listen -)")
        stream = stdin if stdin is not None else sys.stdin.buffer
        return Source("standard input", STDIN_RATE, pcm_blocks(stream))
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


def pcm_blocks(stream: BinaryIO, max_bytes: int = 2 * int(BLOCK_SECONDS * STDIN_RATE)) -> Iterator[np.ndarray]:
    """Signed 16-bit little-endian mono samples, scaled by 1/32768 as a 16-bit WAV is.

    A pipe's read returns what has arrived (up to max_bytes): a live microphone's audio is
    scored as soon as it comes, while a fast producer (a file piped in) fills whole blocks. A
    sample split across two reads is kept until its second byte arrives.
    """
    read = getattr(stream, "read1", stream.read)
    carry = b""
    while True:
        data = read(max_bytes)
        if not data:
            if carry:
                log.warning("standard input ended in the middle of a 16-bit sample; its odd byte is dropped")
            return
        data = carry + data
        whole = len(data) - len(data) % 2
        carry = data[whole:]
        if whole:
            yield np.frombuffer(data[:whole], dtype="<i2").astype(np.float32) / np.float32(32768)


def at_rate(source: Source, rate: int) -> Iterator[np.ndarray]:
    """The source's blocks at `rate`; the same samples, on the same grid, as resampling it whole."""
    resampler = StreamResampler(source.rate, rate)
    if source.rate != rate:
        log.info("%s: %d Hz, resampled to %d Hz as it is read", source.name, source.rate, rate)
    for block in source.blocks:
        out = resampler.process(block)
        if len(out):
            yield out
    tail = resampler.flush()
    if len(tail):
        yield tail
