"""One clip: read a WAV file, mix it down, bring it to the working rate and length."""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import scipy.io.wavfile
import scipy.signal

from .. import PipelineError
from ..core.config import AudioConfig


class AudioError(PipelineError):
    """A file that cannot be used as audio; the message names the file."""


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    """Return (sample rate, mono float32 samples in [-1, 1]); AudioError for anything unusable."""
    return _clean(path, *_read(path))


def _read(path: Path, mmap: bool = False) -> tuple[int, np.ndarray]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", scipy.io.wavfile.WavFileWarning)
            return scipy.io.wavfile.read(path, mmap=mmap)
    except Exception as error:  # scipy raises ValueError, struct.error, EOFError, ... on damaged files
        raise AudioError(f"{path}: not a readable WAV file ({type(error).__name__}: {error})") from error


def _clean(path: Path, rate: int, data: np.ndarray) -> tuple[int, np.ndarray]:
    if rate <= 0:
        raise AudioError(f"{path}: sample rate {rate} Hz in the header; expected a positive rate")
    if data.size == 0:
        raise AudioError(f"{path}: the WAV file holds no samples")
    if data.ndim > 2:
        raise AudioError(f"{path}: samples of shape {data.shape}; expected (samples,) or (samples, channels)")
    integer = np.issubdtype(data.dtype, np.integer)
    data = _to_float(path, data)
    if not integer and not np.isfinite(data).all():  # only float files can hold NaN or infinity
        raise AudioError(f"{path}: {int((~np.isfinite(data)).sum())} samples are NaN or infinite")
    if data.ndim == 2:
        data = data.mean(axis=1, dtype=np.float32)
    return int(rate), data


def _to_float(path: Path, data: np.ndarray) -> np.ndarray:
    if data.dtype == np.uint8:
        return (data.astype(np.float32) - 128.0) / 128.0
    if np.issubdtype(data.dtype, np.integer):
        return data.astype(np.float32) / float(np.iinfo(data.dtype).max + 1)
    if np.issubdtype(data.dtype, np.floating):
        return data.astype(np.float32)
    raise AudioError(f"{path}: unsupported sample type {data.dtype}")


def fix_length(samples: np.ndarray, length: int) -> np.ndarray:
    """Pad with zeros at the end, or chop the end, to exactly `length` samples."""
    if len(samples) >= length:
        return samples[:length]
    return np.pad(samples, (0, length - len(samples)))


def load_clip(path: Path, audio: AudioConfig, offset: int = 0, gain: float = 1.0) -> np.ndarray:
    """One clip at audio.sample_rate, exactly one clip long, starting `offset` samples in."""
    if gain == 0.0:
        return np.zeros(audio.clip_samples, np.float32)  # digital silence: nothing to read
    if offset > 0 and (window := _window_of_long_file(path, audio, offset)) is not None:
        return (window * np.float32(gain)).astype(np.float32, copy=False)
    rate, samples = read_wav(path)
    if rate != audio.sample_rate:
        divisor = math.gcd(rate, audio.sample_rate)
        samples = scipy.signal.resample_poly(samples, audio.sample_rate // divisor, rate // divisor)
    clip = fix_length(samples[offset:], audio.clip_samples) * np.float32(gain)
    return clip.astype(np.float32, copy=False)


def _window_of_long_file(path: Path, audio: AudioConfig, offset: int) -> np.ndarray | None:
    """One clip cut from a long recording (a background-noise file) without decoding all of it:
    a minute of noise is read for each one-second window otherwise. None when the file needs
    the full path (another sample rate, a format scipy cannot map, a window past the end)."""
    try:
        rate, mapped = _read(path, mmap=True)
    except AudioError:
        return None
    if rate != audio.sample_rate or offset >= len(mapped):
        return None
    rate, window = _clean(path, rate, np.array(mapped[offset:offset + audio.clip_samples]))
    del mapped
    return fix_length(window, audio.clip_samples)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def wav_seconds(path: Path) -> float:
    """Duration, read from the header without loading the samples."""
    rate, data = _read(path, mmap=True)
    if rate <= 0:
        raise AudioError(f"{path}: sample rate {rate} Hz in the header; expected a positive rate")
    return data.shape[0] / rate


ROOM_TONE_SECONDS = 0.15


def room_tone(samples: np.ndarray, length: int, rate: int, phase: int = 0) -> np.ndarray:
    """Silence as the speaker's own microphone heard it: the quietest stretch of a recording,
    looped back and forth (reflection keeps the joins continuous) to `length` samples."""
    window = min(int(ROOM_TONE_SECONDS * rate), len(samples))
    energy = np.concatenate([[0.0], np.cumsum(samples.astype(np.float64) ** 2)])
    start = int(np.argmin(energy[window:] - energy[:-window])) if window > 0 else 0
    segment = samples[start:start + window]
    cycle = np.concatenate([segment, segment[::-1]])
    repeats = -(-(length + phase) // len(cycle))
    return np.tile(cycle, repeats)[phase % len(cycle):][:length].astype(np.float32)


def load_room_tone(path: Path, audio: AudioConfig, phase: int = 0, gain: float = 1.0) -> np.ndarray:
    clip = load_clip(path, audio)
    return room_tone(clip, audio.clip_samples, audio.sample_rate, phase) * np.float32(gain)
