"""Pseudo-labels (--pseudo-label-epoch): after some epochs, the best model so far labels the clips
training has no labels for (the test clips, and the validation clips treated as if they had none),
and the remaining epochs train on the confident ones too.

The validation clips are in the pool on purpose: their true labels still score every epoch, so the
validation accuracy measures the whole procedure on clips it labelled itself, as the test's are.
An epoch keeps its length (the learning-rate schedule is that of a run without pseudo-labels): a
share of its clips are pseudo-labelled ones, drawn afresh every epoch.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

# At most this share of an epoch's clips are pseudo-labelled; the rest are labelled training clips.
PSEUDO_SHARE = 0.3
NOT_TRAINED = -1  # a pool clip below the confidence (or unreadable): never drawn


class StackedRows:
    """The rows of several arrays (or memory maps) of one row shape, addressed as one array."""

    def __init__(self, *parts: np.ndarray):
        self.parts = parts
        self.offsets = np.cumsum([0] + [len(part) for part in parts])
        self.shape = (int(self.offsets[-1]), *parts[0].shape[1:])

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: np.ndarray | slice) -> np.ndarray:
        rows = np.arange(len(self))[rows] if isinstance(rows, slice) else np.asarray(rows)
        out = np.empty((len(rows), *self.shape[1:]), np.float32)
        for part, start, end in zip(self.parts, self.offsets[:-1], self.offsets[1:]):
            inside = (rows >= start) & (rows < end)
            if inside.any():
                out[inside] = part[rows[inside] - start]
        return out


def pseudo_labels(probabilities: np.ndarray, readable: np.ndarray, confidence: float) -> np.ndarray:
    """Each pool clip's most probable class where its probability reaches `confidence`, else NOT_TRAINED."""
    labels = probabilities.argmax(axis=1).astype(np.int32)
    trained = readable & (probabilities.max(axis=1) >= confidence)
    return np.where(trained, labels, NOT_TRAINED).astype(np.int32)


def pool_table(tables: dict[str, pd.DataFrame], probabilities: np.ndarray, labels: np.ndarray,
               class_names: list[str]) -> pd.DataFrame:
    """One row per pool clip: where it is from (its split, and its row of that split's feature
    table, which tells apart the silence windows of one noise file), the label it got, its
    probability, and whether it is trained on."""
    paths = pd.concat([table["path"] for table in tables.values()], ignore_index=True)
    splits = np.concatenate([[split] * len(table) for split, table in tables.items()])
    rows = np.concatenate([table.index.to_numpy() for table in tables.values()])
    predicted = probabilities.argmax(axis=1)
    return pd.DataFrame({"split": splits, "row": rows, "path": paths, "label": np.asarray(class_names)[predicted],
                         "confidence": probabilities.max(axis=1).round(4), "trained": labels >= 0})
