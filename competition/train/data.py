"""The feature caches as training reads them: a split's rows and class numbers, checked against
the config's input shape and their tables; the splits a training run reads, together."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import PipelineError
from ..core.config import TrainConfig
from ..core.paths import Paths
from ..data.features import read_feature_table
from ..tasks import get_task


def check_cache_shape(shape: tuple[int, ...], config: TrainConfig, where) -> None:
    if tuple(shape) != config.input_shape:
        raise PipelineError(f"{where}: holds features of shape {tuple(shape)}, but --features {config.features} "
                            f"needs {config.input_shape}; run --stage features with the same flags (or --stage all)")


def load_split(paths: Paths, config: TrainConfig, split: str, labels: list[str],
               in_memory: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Features and class numbers of the readable clips of a split. With in_memory=False the
    features stay a memory map of the cache and the labels cover every row (read them through
    `readable_rows`)."""
    features, table = cached_split(paths, config, split)
    lookup = {label: i for i, label in enumerate(labels)}
    usable = table["readable"].to_numpy(bool)
    classes = table["label"].map(lookup).fillna(-1).to_numpy(np.int32)
    if (unknown := usable & (classes < 0)).any():
        raise PipelineError(f"{paths.feature_table(split)}: labels outside {', '.join(labels)}: "
                            f"{sorted(set(table.loc[unknown, 'label'].astype(str)))[:5]}; rerun --stage prepare")
    if not in_memory:
        return features, np.where(usable, classes, -1).astype(np.int32)
    return np.asarray(features[usable]), classes[usable]


def cached_split(paths: Paths, config: TrainConfig, split: str) -> tuple[np.ndarray, pd.DataFrame]:
    """A split's feature cache (a memory map) and its table, checked against each other and the config."""
    features = np.load(paths.feature_cache(split), mmap_mode="r")
    check_cache_shape(features.shape[1:], config, paths.feature_cache(split))
    table = read_feature_table(paths, split)
    if len(table) != len(features):
        raise PipelineError(
            f"{paths.features_dir}: {split}.npy has {len(features)} rows but {split}.csv has "
            f"{len(table)}; rerun --stage features"
        )
    return features, table


def readable_rows(y: np.ndarray) -> np.ndarray:
    return np.flatnonzero(y >= 0)


class StackedRows:
    """Row arrays one after another, read by row numbers like one array: the training cache's memory map
    and the validation clips, for a refit, without a copy of the cache in memory."""

    def __init__(self, *parts: np.ndarray):
        self.parts = parts
        self.starts = np.cumsum([0, *(len(part) for part in parts)])
        self.shape = (int(self.starts[-1]), *parts[0].shape[1:])
        self.dtype = parts[0].dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows)
        out = np.empty((len(rows), *self.shape[1:]), self.dtype)
        for part, start, end in zip(self.parts, self.starts[:-1], self.starts[1:]):
            inside = (rows >= start) & (rows < end)
            out[inside] = part[rows[inside] - start]
        return out


def training_data(paths: Paths, config: TrainConfig, with_validation: bool = False) -> dict:
    """What training reads: the class names, the training rows (a memory map; every row, unreadable ones
    with class -1), the validation clips and the noise windows. `with_validation`: the validation
    clips are trained on too (a refit), and there is no validation."""
    labels = list(get_task(config.task).classes(read_feature_table(paths, "train")["label"]))
    x_train, y_train = load_split(paths, config, "train", labels, in_memory=False)
    x_val, y_val = load_split(paths, config, "validation", labels)
    x_val = x_val.astype(np.float32)
    noise_file = paths.feature_cache("noise")
    noise = (load_split(paths, config, "noise", labels + ["noise"])[0].astype(np.float32)
             if noise_file.exists() else None)
    if with_validation:
        train = (StackedRows(x_train, x_val.astype(x_train.dtype)), np.concatenate([y_train, y_val]).astype(np.int32))
        return {"labels": labels, "train": train, "validation": None, "noise": noise}
    return {"labels": labels, "train": (x_train, y_train), "validation": (x_val, y_val), "noise": noise}
