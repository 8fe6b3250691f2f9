"""Atomic writes: every artefact appears under its final name complete, or not at all."""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .. import PipelineError
from .lock import holds_lock_over
from .paths import not_writable

# mkstemp and mkdtemp create private files (0600, 0700); an artefact should get the permissions
# any ordinary write would, so read the process's umask once.
_UMASK = os.umask(0)
os.umask(_UMASK)


def _sweep(folder: Path, pattern: str) -> None:
    """Remove what a killed run left half-written under a temporary name (it would only fill the disk).
    Only under the work folder's lock: without it, the "leftover" may be another run's file in progress."""
    if not holds_lock_over(folder):
        return
    for leftover in folder.glob(pattern):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds.

    The temporary name keeps the suffix so libraries that pick a format by extension
    (numpy, keras) still do the right thing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep(path.parent, f".{path.stem}.*.partial{path.suffix}")
    handle, temp_name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=path.parent
    )
    os.close(handle)
    temp = Path(temp_name)
    os.chmod(temp, 0o666 & ~_UMASK)
    try:
        yield temp
        os.replace(temp, path)
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise disk_full(path, error) from error
        raise
    finally:
        if temp.exists():
            temp.unlink()


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside `path`; swap it in for `path` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep(path.parent, f".{path.name}.*.partial")
    temp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    os.chmod(temp, 0o777 & ~_UMASK)
    try:
        yield temp
        if path.exists():
            shutil.rmtree(path)
        os.replace(temp, path)
    finally:
        if temp.exists():
            shutil.rmtree(temp, ignore_errors=True)


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_path(path) as temp:
        temp.write_text(text)


def atomic_write_json(path: Path, data: object) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json_written_by(path: Path, stage: str) -> object:
    """A JSON file a stage wrote; a missing or unreadable one says which stage to run."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as error:
        raise PipelineError(f"{path} is missing: run --stage {stage} first (with this --work-dir)") from error
    except (OSError, ValueError) as error:
        raise PipelineError(f"{path}: not readable as JSON ({error}); run --stage {stage} again") from error


def disk_full(path: Path, error: OSError) -> PipelineError:
    return PipelineError(f"disk full while writing {path} ({error.strerror}); nothing was replaced: "
                         f"free space on that disk and rerun")


def reserve(path: Path, size: int) -> None:
    """Allocate a file's blocks now, so a full disk is found before the work rather than after
    it, as an ordinary, reportable error (a memory map over a sparse file would die of SIGBUS)."""
    with open(path, "r+b") as handle:
        try:
            os.posix_fallocate(handle.fileno(), 0, size)
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise disk_full(path, error) from error
            if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # file systems without fallocate
                raise


def check_writable(folder: Path, what: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise PipelineError(not_writable(folder, what, error)) from error
