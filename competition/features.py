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

from .audio import load_clip
from .config import AudioConfig, Paths, Settings
from .io_utils import atomic_path

log = logging.getLogger(__name__)

CHUNK_SIZE = 256
LOG_FLOOR = 1e-10
SPLITS = ("train", "validation", "test")


def log_spectrogram(clips: np.ndarray, audio: AudioConfig) -> np.ndarray:
    """(n, clip_samples) at sample_rate -> (n, n_frames, n_freqs) float32 log power."""
    clips = np.atleast_2d(clips)
    resampled = scipy.signal.resample(clips, audio.target_samples, axis=-1)
    _, _, power = scipy.signal.spectrogram(
        resampled, fs=audio.target_rate, window="hann", nperseg=audio.window_samples,
        noverlap=audio.window_samples - audio.step_samples, detrend=False, axis=-1,
    )
    return np.log(np.swapaxes(power, -1, -2).astype(np.float32) + LOG_FLOOR)


def _features_of_chunk(args: tuple[list[tuple[str, int, float]], AudioConfig]) -> np.ndarray:
    sources, audio = args
    clips = np.stack([load_clip(Path(path), audio, offset, gain) for path, offset, gain in sources])
    return log_spectrogram(clips, audio)


def write_feature_array(sources: list[tuple[str, int, float]], target: Path,
                        settings: Settings, desc: str) -> None:
    """Compute features for `sources` (path, offset, gain) into `target` (.npy), atomically."""
    audio = settings.audio
    shape = (len(sources), *audio.feature_shape)
    chunks = [sources[i:i + CHUNK_SIZE] for i in range(0, len(sources), CHUNK_SIZE)]
    jobs = [(chunk, audio) for chunk in chunks]
    with atomic_path(target) as temp:
        array = np.lib.format.open_memmap(temp, mode="w+", dtype=settings.feature_dtype, shape=shape)
        progress = tqdm(total=len(sources), desc=desc, unit="clip")
        if settings.workers > 1 and len(chunks) > 1:
            # spawn, not fork: the parent may already hold TensorFlow's threads.
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(settings.workers, mp_context=context) as pool:
                results = pool.map(_features_of_chunk, jobs)
                _fill(array, results, progress)
        else:
            _fill(array, map(_features_of_chunk, jobs), progress)
        progress.close()
        array.flush()
        del array


def _fill(array: np.ndarray, results, progress: tqdm) -> None:
    start = 0
    for block in results:
        array[start:start + len(block)] = block
        start += len(block)
        progress.update(len(block))


def build_features(paths: Paths, settings: Settings) -> None:
    """Write features/<split>.npy and, row for row, features/<split>.csv."""
    index = pd.read_csv(paths.index_csv)
    tables = {split: index[index["split"] == split].reset_index(drop=True) for split in SPLITS[:2]}
    tables["test"] = pd.read_csv(paths.prepare_dir / "test_index.csv").assign(offset=0, gain=1.0)
    for split in SPLITS:
        table = tables[split]
        sources = [(str(paths.extract_dir / p), int(o), float(g))
                   for p, o, g in zip(table["path"], table["offset"], table["gain"])]
        log.info("%s: %d clips -> %s", split, len(sources), paths.features_dir / f"{split}.npy")
        write_feature_array(sources, paths.features_dir / f"{split}.npy", settings, desc=f"features {split}")
        with atomic_path(paths.features_dir / f"{split}.csv") as temp:
            table.to_csv(temp, index=False)
