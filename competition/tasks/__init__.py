"""Tasks: what the pipeline learns from the recordings, each a registry entry.

A task owns its classes and how clips map to them, the synthetic classes it plans (silence),
which words it holds out, how the decision rule is calibrated on validation, and the format
of what predict writes: `commands` (the competition's 12 labels) and `words` (all 30 words).
"""
from __future__ import annotations

from ..core.registry import Registry
from .base import HELD_OUT_CLIPS, HELD_OUT_SPEAKERS, Task
from .commands import CommandsTask
from .speakers import SpeakersTask
from .words import WordsTask

TASKS: Registry[Task] = Registry("task")
TASKS.add("commands", CommandsTask())
TASKS.add("words", WordsTask())
TASKS.add("speakers", SpeakersTask())


def task_names() -> tuple[str, ...]:
    return TASKS.names()


def get_task(name: str) -> Task:
    return TASKS.get(name)


__all__ = ["HELD_OUT_CLIPS", "HELD_OUT_SPEAKERS", "Task", "get_task", "task_names"]
