"""Stage 3, features: one log-spectrogram per clip, cached as .npy arrays on disk.

The arrays are written through a memory map, so the whole test set never has to
fit in memory, and each worker process handles a chunk of files at a time.
"""
from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.signal
from tqdm import tqdm

from .audio import AudioError, load_clip, load_room_tone
from .dataset import CLIP, ROOM_TONE
from .config import WAVE, AudioConfig, Paths, Settings
from .io_utils import atomic_path, reserve

log = logging.getLogger(__name__)

CHUNK_SIZE = 256
# Bump when the layout of the cached files changes, so caches from older code are rebuilt.
CACHE_FORMAT = 2
LOG_FLOOR = 1e-10
SPLITS = ("train", "validation", "noise", "test")


def resample(clips: np.ndarray, audio: AudioConfig) -> np.ndarray:
    """(n, clip_samples) at sample_rate -> (n, target_samples) at target_rate, float32."""
    return scipy.signal.resample(np.atleast_2d(clips), audio.target_samples, axis=-1).astype(np.float32)


def log_spectrogram(clips: np.ndarray, audio: AudioConfig) -> np.ndarray:
    """(n, clip_samples) at sample_rate -> (n, n_frames, n_freqs) float32 log power."""
    return _log_spectrogram_of_resampled(resample(clips, audio), audio)


def clip_features(clips: np.ndarray, audio: AudioConfig, representation: str) -> np.ndarray:
    """What the cache holds for each clip: the 8 kHz waveform, or its log-spectrogram."""
    resampled = resample(clips, audio)
    return resampled if representation == WAVE else _log_spectrogram_of_resampled(resampled, audio)


def _log_spectrogram_of_resampled(resampled: np.ndarray, audio: AudioConfig) -> np.ndarray:
    _, _, power = scipy.signal.spectrogram(
        resampled, fs=audio.target_rate, window="hann", nperseg=audio.window_samples,
        noverlap=audio.window_samples - audio.step_samples, detrend=False, axis=-1,
    )
    return np.log(np.swapaxes(power, -1, -2).astype(np.float32) + LOG_FLOOR)


Source = tuple[str, int, float, str]  # path, offset, gain, kind (see dataset.INDEX_COLUMNS)


def _features_of_chunk(args: tuple[list[Source], AudioConfig, str]) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Features of a chunk of clips; an unreadable clip gets zeros and is reported, not raised."""
    sources, audio, representation = args
    clips, failures = [], []
    for position, (path, offset, gain, kind) in enumerate(sources):
        try:
            load = load_room_tone if kind == ROOM_TONE else load_clip
            clips.append(load(Path(path), audio, offset, gain))
        except AudioError as error:
            clips.append(np.zeros(audio.clip_samples, np.float32))
            failures.append((position, str(error)))
    return clip_features(np.stack(clips), audio, representation), failures


def write_feature_array(sources: list[Source], target: Path,
                        settings: Settings, desc: str) -> np.ndarray:
    """Compute features for `sources` (path, offset, gain, kind) into `target` (.npy), atomically.

    Returns a boolean mask of the clips that could be read.
    """
    audio = settings.audio
    shape = (len(sources), *audio.cache_shape(settings.features))
    chunks = [sources[i:i + CHUNK_SIZE] for i in range(0, len(sources), CHUNK_SIZE)]
    jobs = [(chunk, audio, settings.cached_representation) for chunk in chunks]
    readable = np.ones(len(sources), dtype=bool)
    with atomic_path(target) as temp:
        array = np.lib.format.open_memmap(temp, mode="w+", dtype=settings.feature_dtype, shape=shape)
        reserve(temp, temp.stat().st_size)
        progress = tqdm(total=len(sources), desc=desc, unit="clip")
        if settings.workers > 1 and len(chunks) > 1:
            # spawn, not fork: the parent may already hold TensorFlow's threads.
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(settings.workers, mp_context=context) as pool:
                _fill(array, readable, pool.map(_features_of_chunk, jobs), progress)
        else:
            _fill(array, readable, map(_features_of_chunk, jobs), progress)
        progress.close()
        array.flush()
        del array
    return readable


def _fill(array: np.ndarray, readable: np.ndarray, results, progress: tqdm) -> None:
    start = 0
    for block, failures in results:
        array[start:start + len(block)] = block
        for position, message in failures:
            readable[start + position] = False
            log.warning("unreadable clip: %s", message)
        start += len(block)
        progress.update(len(block))


def build_features(paths: Paths, settings: Settings) -> None:
    """Write features/<split>.npy and, row for row, features/<split>.csv."""
    index = pd.read_csv(paths.index_csv, keep_default_na=False)
    tables = {split: index[index["split"] == split].reset_index(drop=True) for split in SPLITS[:3]}
    tables["test"] = pd.read_csv(paths.prepare_dir / "test_index.csv", keep_default_na=False).assign(offset=0, gain=1.0, kind=CLIP)
    for split in SPLITS:
        table = tables[split]
        sources = [(str(paths.extract_dir / p), int(o), float(g), k)
                   for p, o, g, k in zip(table["path"], table["offset"], table["gain"], table["kind"])]
        log.info("%s: %d clips -> %s", split, len(sources), paths.features_dir / f"{split}.npy")
        readable = write_feature_array(sources, paths.features_dir / f"{split}.npy", settings, desc=f"features {split}")
        if not readable.all():
            consequence = "each gets the fallback label" if split == "test" else "skipped in training"
            log.warning("%s: %d of %d clips unreadable (%s); they are listed above", split,
                        int((~readable).sum()), len(readable), consequence)
        with atomic_path(paths.features_dir / f"{split}.csv") as temp:
            table.assign(readable=readable).to_csv(temp, index=False)
