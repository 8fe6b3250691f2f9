"""One run per work folder: an OS lock (flock) that the kernel releases when its process dies,
so a SIGKILLed run never blocks the next one. Re-entrant within a process."""
from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from .. import PipelineError
from .paths import not_writable

LOCK_FILE = ".lock"  # in the work folder; holds the PID of the run that has it

_held: dict[Path, list[int]] = {}  # folder -> [file descriptor, depth]


@contextlib.contextmanager
def work_folder_lock(work_dir: Path) -> Iterator[None]:
    """Hold `work_dir` for this run; another process asking for it gets a one-line error at once."""
    folder = Path(work_dir).resolve()
    if folder in _held:
        _held[folder][1] += 1
        try:
            yield
        finally:
            _held[folder][1] -= 1
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise PipelineError(not_writable(folder, "the work folder (--work-dir)", error)) from error
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(descriptor, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(descriptor)
        raise PipelineError(f"the work folder {folder} is in use by another run (process {holder}); wait for it to "
                            "finish, or give this run another --work-dir") from None
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    _held[folder] = [descriptor, 1]
    try:
        yield
    finally:
        del _held[folder]
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)


def holds_lock_over(path: Path) -> bool:
    """Whether this process holds the lock of a work folder that contains `path`."""
    resolved = Path(path).resolve()
    return any(resolved == folder or folder in resolved.parents for folder in _held)
