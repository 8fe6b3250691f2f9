"""The data set's vocabulary, the competition's 12 labels, and the labels file.

The class order lives in one labels file written beside the trained model and read
back by predict, so a model can never be decoded with a different order.
"""
from __future__ import annotations

from pathlib import Path

from .. import PipelineError
from .io import atomic_write_text

SILENCE_LABEL = "silence"
UNKNOWN_LABEL = "unknown"
BACKGROUND_NOISE_DIR = "_background_noise_"

COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
AUXILIARY_WORDS = (
    "bed", "bird", "cat", "dog", "eight", "five", "four", "happy", "house", "marvin",
    "nine", "one", "seven", "sheila", "six", "three", "tree", "two", "wow", "zero",
)
WORDS = COMMANDS + AUXILIARY_WORDS
LABELS = COMMANDS + (SILENCE_LABEL, UNKNOWN_LABEL)
# Commands whose recordings played backwards sound like each other ("no" and "on"): their
# reversals cannot stand for words never heard before.
REVERSE_INTO_COMMANDS = ("no", "on")


def word_to_label(word: str) -> str:
    """Map a training folder name to one of the 12 competition labels."""
    if word in COMMANDS:
        return word
    if word == BACKGROUND_NOISE_DIR:
        raise ValueError(f"{BACKGROUND_NOISE_DIR} is a source of silence clips, not a word")
    return UNKNOWN_LABEL


def write_labels(path: Path, labels: tuple[str, ...] | list[str]) -> None:
    atomic_write_text(path, "".join(f"{label}\n" for label in labels))


def read_labels(path: Path, allowed: tuple[str, ...] | None = LABELS) -> list[str]:
    """The class order a model was trained with; refused unless its labels are distinct and allowed
    (`allowed` None: a task whose classes come from the data, such as its speakers)."""
    if not path.exists():
        raise PipelineError(f"labels file {path} is missing: run --stage train first")
    labels = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    unexpected = sorted(set(labels) - set(allowed)) if allowed is not None else []
    if unexpected or not labels or len(labels) != len(set(labels)):
        expected = f"out of {', '.join(allowed)}" if allowed is not None else "(at least one)"
        raise PipelineError(f"labels file {path} should list distinct labels {expected}; found {labels}")
    return labels
