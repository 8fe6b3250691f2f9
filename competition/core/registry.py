"""Named entries that other floors add to (tasks, models, engines): one lookup, one error."""
from __future__ import annotations

from typing import Generic, TypeVar

from .. import PipelineError

Entry = TypeVar("Entry")


class Registry(Generic[Entry]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, entry: Entry) -> Entry:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._entries))

    def get(self, name: str) -> Entry:
        if name not in self._entries:
            raise PipelineError(f"unknown {self.kind} {name!r}; expected one of {', '.join(self.names())}")
        return self._entries[name]
