"""The feature caches as training reads them: a split's rows and class numbers, checked against
the config's input shape and their tables."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import PipelineError
from ..core.config import TrainConfig
from ..core.paths import Paths
from ..data.features import read_feature_table


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
