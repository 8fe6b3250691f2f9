"""MFCC16k: the classical MFCCs of the baseline and the explore figures, with numpy and scipy only.

Not the network's `--features mfcc`. These work on the clips at their full 16 kHz rate (25 ms
windows, 512-point FFT, triangles spaced in Hz on the mel scale, +-2-frame regression deltas), as
the classical recipes do; the network's MFCC layer (`frontend.layers.MFCC`) starts from the
feature cache's 8 kHz spectrogram, with TensorFlow's mel matrix and +-1-frame deltas. Two
definitions, so two names.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import scipy.fft

from .spectral import LOG_FLOOR


@dataclasses.dataclass(frozen=True)
class Mfcc16kConfig:
    sample_rate: int = 16_000
    window: int = 400  # 25 ms
    step: int = 160  # 10 ms
    n_fft: int = 512
    n_mels: int = 40
    n_mfcc: int = 13
    fmin: float = 20.0
    fmax: float = 8_000.0
    delta_width: int = 2


def hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, fmin: float, fmax: float) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangles, equally spaced on the mel scale, each peaking at 1."""
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ValueError(f"expected 0 <= fmin < fmax <= {sample_rate / 2}; got {fmin}, {fmax}")
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    bins = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    return np.clip(np.minimum(rising, falling), 0.0, None).astype(np.float32)


def power_spectrogram(clips: np.ndarray, config: Mfcc16kConfig = Mfcc16kConfig()) -> np.ndarray:
    """(n, samples) -> (n, frames, n_fft // 2 + 1) power of Hann-windowed frames."""
    clips = np.atleast_2d(np.asarray(clips, dtype=np.float32))
    n_frames = 1 + (clips.shape[-1] - config.window) // config.step
    starts = np.arange(n_frames)[:, None] * config.step + np.arange(config.window)[None, :]
    frames = clips[:, starts] * np.hanning(config.window).astype(np.float32)
    return np.abs(np.fft.rfft(frames, n=config.n_fft, axis=-1)) ** 2


def log_mel(clips: np.ndarray, config: Mfcc16kConfig = Mfcc16kConfig()) -> np.ndarray:
    """(n, samples) -> (n, frames, n_mels) natural-log mel energies."""
    bank = mel_filterbank(config.n_mels, config.n_fft, config.sample_rate, config.fmin, config.fmax)
    return np.log(power_spectrogram(clips, config) @ bank.T + LOG_FLOOR).astype(np.float32)


def mfcc(clips: np.ndarray, config: Mfcc16kConfig = Mfcc16kConfig()) -> np.ndarray:
    """(n, samples) -> (n, frames, n_mfcc): the orthonormal DCT-II of the log-mel energies."""
    return scipy.fft.dct(log_mel(clips, config), type=2, norm="ortho", axis=-1)[..., :config.n_mfcc]


def deltas(features: np.ndarray, width: int = 2) -> np.ndarray:
    """Slope over time (axis -2) by least squares over +-width frames; edges repeat the end frames."""
    pad = [(0, 0)] * features.ndim
    pad[-2] = (width, width)
    padded = np.pad(features, pad, mode="edge")
    n = features.shape[-2]
    weighted = sum(k * (padded[..., width + k:width + k + n, :] - padded[..., width - k:width - k + n, :])
                   for k in range(1, width + 1))
    return weighted / (2 * sum(k * k for k in range(1, width + 1)))


def mfcc_with_deltas(clips: np.ndarray, config: Mfcc16kConfig = Mfcc16kConfig()) -> np.ndarray:
    """(n, samples) -> (n, frames, 3 * n_mfcc): MFCCs, their deltas and their delta-deltas."""
    base = mfcc(clips, config)
    first = deltas(base, config.delta_width)
    return np.concatenate([base, first, deltas(first, config.delta_width)], axis=-1)


def pooled_mfcc(clips: np.ndarray, config: Mfcc16kConfig = Mfcc16kConfig()) -> np.ndarray:
    """(n, samples) -> (n, 6 * n_mfcc): mean and standard deviation over time, a fixed-size
    vector that any classifier takes."""
    frames = mfcc_with_deltas(clips, config)
    return np.concatenate([frames.mean(axis=1), frames.std(axis=1)], axis=-1).astype(np.float32)
