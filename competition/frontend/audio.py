"""One clip: read a recording, mix it down, bring it to the working rate and length.

One reader for every format libsndfile reads (through soundfile, which ships the library in its
wheels): WAV in its PCM, float, extensible, mu-law and A-law forms, FLAC, OGG/Vorbis, at any rate
and channel count. Integer samples are scaled by a power of two, so a 16-bit WAV gives exactly
the samples it gave when scipy read it.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile

from ..core.config import AudioConfig
from ..device.sources import AudioError, fix_length

# What the training and test folders are searched for; the reader itself goes by the content.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
_FLOAT_SUBTYPES = {"FLOAT", "DOUBLE"}  # the only ones that can hold NaN or infinity


def audio_files(folder: Path) -> list[Path]:
    """The recordings in a folder, in name order: WAV, FLAC and OGG files."""
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    """Return (sample rate, mono float32 samples, full scale 1); AudioError for anything unusable.
    Any format libsndfile reads, despite the name."""
    return _clean(path, *_read(path))


def _open(path: Path) -> soundfile.SoundFile:
    try:
        return soundfile.SoundFile(path)
    except Exception as error:  # libsndfile's errors, and TypeError / ValueError on odd headers
        raise AudioError(f"{path}: not a readable audio file ({type(error).__name__}: {error})") from error


def _read(path: Path) -> tuple[int, np.ndarray, bool]:
    """(rate, float32 samples (frames,) or (frames, channels), whether the file stores floats)."""
    with _open(path) as stream:
        return _read_open(path, stream)


def _read_open(path: Path, stream: soundfile.SoundFile, start: int = 0,
               frames: int = -1) -> tuple[int, np.ndarray, bool]:
    try:
        if start:
            stream.seek(start)
        data = stream.read(frames, dtype="float32", always_2d=False)
    except Exception as error:
        raise AudioError(f"{path}: not a readable audio file ({type(error).__name__}: {error})") from error
    return stream.samplerate, data, stream.subtype in _FLOAT_SUBTYPES


def _clean(path: Path, rate: int, data: np.ndarray, stores_floats: bool) -> tuple[int, np.ndarray]:
    if rate <= 0:
        raise AudioError(f"{path}: sample rate {rate} Hz in the header; expected a positive rate")
    if data.size == 0:
        raise AudioError(f"{path}: the file holds no samples")
    if data.ndim > 2:
        raise AudioError(f"{path}: samples of shape {data.shape}; expected (samples,) or (samples, channels)")
    if stores_floats and not np.isfinite(data).all():
        raise AudioError(f"{path}: {int((~np.isfinite(data)).sum())} samples are NaN or infinite")
    if data.ndim == 2:
        data = data.mean(axis=1, dtype=np.float32)
    return int(rate), data


def load_clip(path: Path, audio: AudioConfig, offset: int = 0, gain: float = 1.0) -> np.ndarray:
    """One clip at audio.sample_rate, exactly one clip long, starting `offset` samples in."""
    if gain == 0.0:
        return np.zeros(audio.clip_samples, np.float32)  # digital silence: nothing to read
    if offset > 0 and (window := _window_of_long_file(path, audio, offset)) is not None:
        return (window * np.float32(gain)).astype(np.float32, copy=False)
    clip = fix_length(load_recording(path, audio)[offset:], audio.clip_samples) * np.float32(gain)
    return clip.astype(np.float32, copy=False)


def load_recording(path: Path, audio: AudioConfig) -> np.ndarray:
    """A whole recording, mono, at audio.sample_rate, whatever its length."""
    rate, samples = read_wav(path)
    if rate != audio.sample_rate:
        divisor = math.gcd(rate, audio.sample_rate)
        samples = scipy.signal.resample_poly(samples, audio.sample_rate // divisor, rate // divisor)
    return samples


def _window_of_long_file(path: Path, audio: AudioConfig, offset: int) -> np.ndarray | None:
    """One clip cut from a long recording (a background-noise file) without decoding all of it:
    a minute of noise is read for each one-second window otherwise. None when the file needs
    the full path (another sample rate, a window past the end)."""
    try:
        stream = _open(path)
    except AudioError:
        return None
    with stream:  # opened once: the check and the window's read
        if stream.samplerate != audio.sample_rate or offset >= stream.frames:
            return None
        rate, window = _clean(path, *_read_open(path, stream, offset, audio.clip_samples))
    return fix_length(window, audio.clip_samples)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def wav_seconds(path: Path) -> float:
    """Duration, read from the header without decoding the samples."""
    with _open(path) as stream:
        if stream.samplerate <= 0:
            raise AudioError(f"{path}: sample rate {stream.samplerate} Hz in the header; expected a positive rate")
        return stream.frames / stream.samplerate


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
