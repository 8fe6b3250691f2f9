"""Classifying whole files: one result per file, in order; a file that is not usable audio gives
an error result and the others go on. Shared by `run.py --classify` (any engine, any format
libsndfile reads) and the device's `classify` (its TFLite file, 16-bit WAV files)."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from .sources import AudioError

TOP = 3


@dataclasses.dataclass(frozen=True)
class Classified:
    path: Path
    label: str | None = None
    top: tuple[tuple[str, float], ...] = ()
    error: str | None = None

    def line(self) -> str:
        if self.error:
            return f"error: {self.error}"
        return f"{self.path}: {self.label} ({', '.join(f'{label} {p:.3f}' for label, p in self.top)})"


def classify_each(files: Sequence[Path], load: Callable[[Path], np.ndarray],
                  probabilities: Callable[[np.ndarray], np.ndarray], decide: Callable[[np.ndarray], np.ndarray],
                  labels: Sequence[str]) -> Iterator[Classified]:
    """`load` reads one clip at the model's rate and length; `probabilities` takes (n, samples)
    clips; `decide` turns probabilities into label names."""
    for path in map(Path, files):
        if not path.is_file():
            yield Classified(path, error=f"{path}: no such file")
            continue
        try:
            clip = load(path)
        except AudioError as error:
            yield Classified(path, error=str(error))
            continue
        p = probabilities(clip[None])
        order = np.argsort(p[0])[::-1][:TOP]
        yield Classified(path, str(decide(p)[0]), tuple((labels[i], float(p[0, i])) for i in order))

