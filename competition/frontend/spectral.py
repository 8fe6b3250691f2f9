"""The numpy reference front end: the log-power spectrogram that fills the feature cache.

One definition of each step (resampling, window, density scale, log floor); the TensorFlow
version in `frontend.graph` is held to it by tests, and the model's layers (`frontend.layers`)
start from its output.
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.fft
import scipy.signal
from numpy.lib.stride_tricks import sliding_window_view

from ..core.config import WAVE, AudioConfig

# Added to every power before the log, here and wherever a power is rebuilt from the cache
# (the log-mel layer), so that a silent band stays finite and the two agree.
LOG_FLOOR = 1e-10


def resample(clips: np.ndarray, audio: AudioConfig) -> np.ndarray:
    """(n, clip_samples) at sample_rate -> (n, target_samples) at target_rate, float32.

    The same Fourier-domain resampling as scipy.signal.resample (its Nyquist rule included),
    done in single precision: twice as fast, and equal to float tolerance.
    """
    clips = np.atleast_2d(clips).astype(np.float32, copy=False)
    target, source = audio.target_samples, clips.shape[-1]
    spectrum = scipy.fft.rfft(clips, axis=-1)
    kept = np.zeros((*clips.shape[:-1], target // 2 + 1), spectrum.dtype)
    shared = min(target, source) // 2 + 1
    kept[..., :shared] = spectrum[..., :shared]
    if target < source and target % 2 == 0:
        kept[..., target // 2] *= 2  # the folded Nyquist bin, as scipy.signal.resample does
    elif target > source and source % 2 == 0:
        kept[..., source // 2] *= 0.5  # the split Nyquist bin, likewise
    return scipy.fft.irfft(kept, target, axis=-1) * np.float32(target / source)


def log_spectrogram(clips: np.ndarray, audio: AudioConfig) -> np.ndarray:
    """(n, clip_samples) at sample_rate -> (n, n_frames, n_freqs) float32 log power."""
    return log_spectrogram_of_resampled(resample(clips, audio), audio)


def clip_features(clips: np.ndarray, audio: AudioConfig, representation: str) -> np.ndarray:
    """What the cache holds for each clip: the waveform at target_rate, or its log-spectrogram."""
    resampled = resample(clips, audio)
    return resampled if representation == WAVE else log_spectrogram_of_resampled(resampled, audio)


@functools.lru_cache(maxsize=4)
def window_and_scale(audio: AudioConfig) -> tuple[np.ndarray, np.ndarray]:
    """The periodic Hann window (as scipy's spectrogram uses) and each bin's density scale."""
    window = scipy.signal.get_window("hann", audio.window_samples).astype(np.float32)
    scale = np.full(audio.n_freqs, 1.0 / (audio.target_rate * float((window ** 2).sum())), np.float32)
    # one-sided density: every bin but DC (and Nyquist, for an even window) counts twice
    scale[1:None if audio.window_samples % 2 else -1] *= 2
    return window, scale


def log_spectrogram_of_resampled(resampled: np.ndarray, audio: AudioConfig) -> np.ndarray:
    """scipy.signal.spectrogram's one-sided power spectral density (Hann window, no detrending),
    framed with strides and transformed in single precision, then log(power + 1e-10)."""
    window, scale = window_and_scale(audio)
    frames = sliding_window_view(resampled, audio.window_samples, axis=-1)[..., ::audio.step_samples, :]
    spectrum = scipy.fft.rfft(frames * window, axis=-1, overwrite_x=True)
    power = np.square(spectrum.real)
    power += np.square(spectrum.imag)
    power *= scale
    power += np.float32(LOG_FLOOR)
    return np.log(power, out=power)
