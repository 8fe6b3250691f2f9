"""Stage 3, features: each clip's front-end output (frontend.spectral), cached as .npy arrays on disk.

Worker processes each handle a chunk of files at a time and write its rows into the cache
file, allocated whole beforehand, so the whole test set never has to fit in memory.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from .. import PipelineError
from ..core.config import AudioConfig, FeaturesConfig
from ..core.io import atomic_path, reserve
from ..core.paths import FEATURE_SPLITS, INDEX_FEATURE_SPLITS, Paths
from ..core.workers import chunked, map_chunks
from ..frontend.audio import AudioError, load_clip, load_room_tone
from ..frontend.spectral import clip_features
from .prepare import CLIP, ROOM_TONE

log = logging.getLogger(__name__)

CHUNK_SIZE = 256  # clips per worker task
COMPUTE_BLOCK = 16  # clips per FFT call: small enough for the CPU cache, large enough to amortise the call

Source = tuple[str, int, float, str]  # path, offset, gain, kind (see prepare.INDEX_COLUMNS)


@dataclasses.dataclass(frozen=True)
class Chunk:
    """A run of consecutive clips and where their rows go in the cache file."""
    sources: list[Source]
    target: Path
    byte_offset: int
    row_bytes: int
    audio: AudioConfig
    representation: str
    dtype: str


def load_source(source: Source, audio: AudioConfig) -> np.ndarray:
    """The clip a row of an index stands for: a recording, a noise window or a room tone."""
    path, offset, gain, kind = source
    load = load_room_tone if kind == ROOM_TONE else load_clip
    return load(Path(path), audio, offset, gain)


def load_source_or_zeros(source: Source, audio: AudioConfig) -> tuple[np.ndarray, str | None]:
    """The clip, or zeros and why when it cannot be read: what the cache holds for such a row."""
    try:
        return load_source(source, audio), None
    except AudioError as error:
        return np.zeros(audio.clip_samples, np.float32), str(error)


def table_sources(paths: Paths, table: pd.DataFrame) -> list[Source]:
    """(path, offset, gain, kind) of each row of an index or feature table."""
    offsets = table["offset"] if "offset" in table else [0] * len(table)
    gains = table["gain"] if "gain" in table else [1.0] * len(table)
    kinds = table["kind"] if "kind" in table else [CLIP] * len(table)
    return [(str(paths.extract_dir / p), int(o), float(g), k)
            for p, o, g, k in zip(table["path"], offsets, gains, kinds)]


def read_feature_table(paths: Paths, split: str) -> pd.DataFrame:
    """features/<split>.csv; a missing or unreadable one says to run the features stage."""
    path = paths.feature_table(split)
    try:
        # as text: a speaker id of digits alone ("00176480") must stay the label it is
        return pd.read_csv(path, keep_default_na=False, dtype={"label": str, "speaker": str, "word": str})
    except FileNotFoundError as error:
        raise PipelineError(f"{path} is missing: run --stage features (with this --work-dir)") from error
    except (OSError, ValueError) as error:  # pandas' parser errors are ValueErrors
        raise PipelineError(f"{path}: not readable as a feature table ({error}); run --stage features again") from error


class ClipRows:
    """The clips of a table's rows, loaded a slice at a time (for engines that read audio, not the
    cache); an unreadable clip comes back as zeros, as the cache holds it."""

    def __init__(self, sources: list[Source], audio: AudioConfig):
        self.sources, self.audio = sources, audio

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, rows: slice) -> np.ndarray:
        clips = [load_source_or_zeros(source, self.audio)[0] for source in self.sources[rows]]
        return np.stack(clips) if clips else np.zeros((0, self.audio.clip_samples), np.float32)


def _write_chunk(chunk: Chunk) -> list[tuple[int, str]]:
    """Compute a chunk's features and write them straight into its rows of the cache file.

    The worker writes, not the parent: sending 4 MB back per chunk only to write it kept the
    parent busy on a core the workers need. Clips are computed a few at a time, so each block's
    FFT buffers stay in the CPU cache. An unreadable clip gets zeros and is reported, not raised.
    """
    rows, failures = [], []
    for start in range(0, len(chunk.sources), COMPUTE_BLOCK):
        clips = []
        for position, source in enumerate(chunk.sources[start:start + COMPUTE_BLOCK], start):
            clip, error = load_source_or_zeros(source, chunk.audio)
            clips.append(clip)
            if error:
                failures.append((position, error))
        rows.append(clip_features(np.stack(clips), chunk.audio, chunk.representation).astype(chunk.dtype))
    data = np.concatenate(rows).tobytes()
    if len(data) != len(chunk.sources) * chunk.row_bytes:  # a wrong size would overwrite the next chunk's rows
        raise PipelineError(f"{chunk.target}: a chunk of {len(chunk.sources)} clips came to {len(data)} bytes; "
                            f"expected {chunk.row_bytes} per clip")
    with open(chunk.target, "r+b") as stream:  # a full disk raises here; atomic_path names the cache file
        stream.seek(chunk.byte_offset)
        stream.write(data)
    return failures


def write_feature_array(sources: list[Source], target: Path, config: FeaturesConfig, desc: str) -> np.ndarray:
    """Compute features for `sources` (path, offset, gain, kind) into `target` (.npy), atomically.

    The file is allocated whole first; each chunk's worker writes its own rows, so memory stays
    at a few chunks however many clips there are. Returns a boolean mask of the clips that could be read.
    """
    audio = config.audio
    shape = (len(sources), *audio.cache_shape(config.cached_representation))
    dtype = np.dtype(config.feature_dtype)
    row_bytes = int(np.prod(shape[1:])) * dtype.itemsize
    readable = np.ones(len(sources), dtype=bool)
    with atomic_path(target) as temp:
        with open(temp, "wb") as stream:
            np.lib.format.write_array_header_1_0(
                stream, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape})
            header_bytes = stream.tell()
        reserve(temp, header_bytes + len(sources) * row_bytes)
        chunks = [Chunk(part, temp, header_bytes + i * CHUNK_SIZE * row_bytes, row_bytes, audio,
                        config.cached_representation, config.feature_dtype)
                  for i, part in enumerate(chunked(sources, CHUNK_SIZE))]
        with tqdm(total=len(sources), desc=desc, unit="clip", disable=not sources) as progress:
            _collect(chunks, map_chunks(_write_chunk, chunks, config.workers), readable, progress)
    return readable


def _collect(chunks: list[Chunk], results, readable: np.ndarray, progress: tqdm) -> None:
    start = 0
    for chunk, failures in zip(chunks, results):
        for position, message in failures:
            readable[start + position] = False
            log.warning("unreadable clip: %s", message)
        start += len(chunk.sources)
        progress.update(len(chunk.sources))


class FeatureRows:
    """Rows of a cached .npy file read on demand with plain reads. Pages of a memory map stay
    in the process's resident memory once touched; these are dropped after each batch, so
    streaming the whole test set costs one batch of memory."""

    def __init__(self, path: Path):
        self.path = path
        try:
            with open(path, "rb") as stream:
                version = np.lib.format.read_magic(stream)
                reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                          else np.lib.format.read_array_header_2_0)
                self.shape, fortran_order, self.dtype = reader(stream)
                self.offset = stream.tell()
        except (OSError, ValueError) as error:
            raise PipelineError(f"{path}: not a readable feature cache ({error}); rerun --stage features") from error
        if fortran_order or not self.shape:
            raise PipelineError(f"{path}: expected a C-ordered array of rows; rerun --stage features")
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        expected = self.offset + self.shape[0] * self.row_bytes
        if path.stat().st_size != expected:
            raise PipelineError(f"{path}: {path.stat().st_size} bytes where its header promises {expected} "
                                "(truncated or damaged); rerun --stage features")

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, step = rows.indices(len(self))
        if step != 1:
            raise IndexError("FeatureRows reads contiguous slices only")
        count = max(stop - start, 0)
        block = np.fromfile(self.path, self.dtype, count * self.row_bytes // self.dtype.itemsize,
                            offset=self.offset + start * self.row_bytes)
        return block.reshape(count, *self.shape[1:])


def build_features(paths: Paths, config: FeaturesConfig) -> None:
    """Write features/<split>.npy and, row for row, features/<split>.csv."""
    index = pd.read_csv(paths.index_csv, keep_default_na=False, dtype={"label": str, "speaker": str, "word": str})
    tables = {split: index[index["split"] == split].reset_index(drop=True) for split in INDEX_FEATURE_SPLITS}
    tables["test"] = pd.read_csv(paths.test_index_csv, keep_default_na=False).assign(offset=0, gain=1.0, kind=CLIP)
    for split in FEATURE_SPLITS:
        table = tables[split]
        sources = table_sources(paths, table)
        if sources:  # an empty split (unseen speakers, outside the speakers task) is written without a word
            log.info("%s: %d clips -> %s", split, len(sources), paths.feature_cache(split))
        readable = write_feature_array(sources, paths.feature_cache(split), config, desc=f"features {split}")
        if not readable.all():
            consequence = "each gets the fallback label" if split == "test" else "skipped in training"
            log.warning("%s: %d of %d clips unreadable (%s); they are listed above", split,
                        int((~readable).sum()), len(readable), consequence)
        with atomic_path(paths.feature_table(split)) as temp:
            table.assign(readable=readable).to_csv(temp, index=False)
