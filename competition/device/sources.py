"""Audio a block at a time with the standard library alone: 16-bit PCM WAV files (the `wave`
module), and standard input, raw 16-bit little-endian PCM at a stated rate or a WAV stream (what
`arecord` writes without `-t raw`), its header read and honoured rather than heard as samples.

Each source yields mono float32 blocks at its own rate (full scale 1: 16-bit samples divided by
32768, as libsndfile reads them); `at_rate` brings any source to the model's rate with a
resampler that keeps its state.
"""
from __future__ import annotations

import dataclasses
import logging
import struct
import sys
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .. import PipelineError
from .resample import StreamResampler

log = logging.getLogger(__name__)

STDIN = "-"
STDIN_RATE = 16_000     # what `arecord -t raw -f S16_LE -r 16000 -c 1` sends
BLOCK_SECONDS = 2.0     # a file's blocks: long enough that the model sees its windows in batches
ARECORD = "arecord -t raw -f S16_LE -r 16000 -c 1"


class AudioError(PipelineError):
    """A file that cannot be used as audio; the message names the file."""


@dataclasses.dataclass
class Source:
    """A stream of mono float32 blocks at `rate`; `seconds` is its length when known (a file)."""

    name: str
    rate: int
    blocks: Iterator[np.ndarray]
    seconds: float | None = None


def _checked(name: str, reader: wave.Wave_read) -> wave.Wave_read:
    width, rate = reader.getsampwidth(), reader.getframerate()
    if width != 2 or rate <= 0 or reader.getnchannels() < 1:
        reader.close()
        raise AudioError(f"{name}: {8 * width}-bit samples at {rate} Hz; expected 16-bit PCM at a positive rate "
                         "(arecord -f S16_LE; sox in.wav -b 16 out.wav)")
    return reader


def _opened(name: str, stream) -> wave.Wave_read:
    try:
        return _checked(name, wave.open(stream, "rb"))
    except (wave.Error, EOFError, struct.error) as error:
        raise AudioError(f"{name}: not a 16-bit PCM WAV file ({error or 'it ends inside its header'})") from error


def mono(frames: bytes, channels: int) -> np.ndarray:
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / np.float32(32768)
    return samples.reshape(-1, channels).mean(axis=1, dtype=np.float32) if channels > 1 else samples


def wav_source(path: Path) -> Source:
    """A 16-bit PCM WAV file of any rate and channel count, read a block at a time."""
    if not path.exists():
        raise AudioError(f"{path}: no such file (expected a WAV recording, or - for PCM on standard input)")
    if not path.is_file():
        raise AudioError(f"{path}: not a file (expected a WAV recording)")
    reader = _opened(str(path), str(path))  # closed by the blocks, or by _checked
    rate, channels, frames = reader.getframerate(), reader.getnchannels(), reader.getnframes()
    if frames == 0:
        reader.close()
        raise AudioError(f"{path}: the file holds no samples")

    def blocks() -> Iterator[np.ndarray]:
        with reader:
            while data := reader.readframes(max(1, int(BLOCK_SECONDS * rate))):
                yield mono(data[:len(data) - len(data) % (2 * channels)], channels)

    return Source(str(path), rate, blocks(), frames / rate)


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    """A whole WAV file: (rate, mono float32 samples)."""
    source = wav_source(path)
    return source.rate, np.concatenate(list(source.blocks))


def fix_length(samples: np.ndarray, length: int) -> np.ndarray:
    """Pad with zeros at the end, or chop the end, to exactly `length` samples."""
    if len(samples) >= length:
        return samples[:length]
    return np.pad(samples, (0, length - len(samples)))


class _Prefixed:
    """A stream with bytes already read from it put back in front."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self.head, self.stream = head, stream

    def _take(self, size: int) -> bytes:
        taken, self.head = self.head[:size], self.head[size:]
        return taken

    def read(self, size: int) -> bytes:
        taken = self._take(size)
        return taken + (self.stream.read(size - len(taken)) if len(taken) < size else b"")

    def read1(self, size: int) -> bytes:
        if self.head:
            return self._take(size)
        return getattr(self.stream, "read1", self.stream.read)(size)


def stdin_source(stdin: BinaryIO | None = None, rate: int | None = None) -> Source:
    """Raw s16le mono PCM at `rate` (16 kHz when not given) on standard input; or a WAV stream,
    whose header gives the rate and channels (a `rate` that contradicts it is refused)."""
    if stdin is None and sys.stdin.isatty():
        raise AudioError(f"standard input is a terminal; expected raw 16 kHz 16-bit mono PCM piped in "
                         f"({ARECORD} | ...)")
    stream = stdin if stdin is not None else sys.stdin.buffer
    head = b""
    while len(head) < 12 and (data := stream.read(12 - len(head))):
        head += data
    stream = _Prefixed(head, stream)
    if not (head[:4] == b"RIFF" and head[8:12] == b"WAVE"):
        return Source("standard input", rate or STDIN_RATE, pcm_blocks(stream))
    reader = _opened("standard input (a WAV stream)", stream)  # reads the header up to the samples, no further
    if rate is not None and rate != reader.getframerate():
        raise AudioError(f"standard input: a WAV stream at {reader.getframerate()} Hz, but a rate of {rate} Hz was "
                         f"given; drop the rate, or send raw samples ({ARECORD})")
    log.info("standard input: a WAV stream, %d Hz, %d channel(s)", reader.getframerate(), reader.getnchannels())
    return Source("standard input", reader.getframerate(), pcm_blocks(stream, reader.getnchannels()))


def pcm_blocks(stream: BinaryIO, channels: int = 1,
               max_bytes: int = 2 * int(BLOCK_SECONDS * STDIN_RATE)) -> Iterator[np.ndarray]:
    """Signed 16-bit little-endian samples, interleaved when `channels` > 1, as mono blocks.

    A pipe's read returns what has arrived (up to max_bytes): a live microphone's audio is
    scored as soon as it comes, while a fast producer (a file piped in) fills whole blocks. A
    frame split across two reads is kept until its last byte arrives.
    """
    read = getattr(stream, "read1", stream.read)
    frame = 2 * channels
    carry = b""
    while True:
        data = read(max_bytes)
        if not data:
            if carry:
                log.warning("standard input ended in the middle of a 16-bit frame; its %d bytes are dropped",
                            len(carry))
            return
        data = carry + data
        whole = len(data) - len(data) % frame
        carry = data[whole:]
        if whole:
            yield mono(data[:whole], channels)


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
