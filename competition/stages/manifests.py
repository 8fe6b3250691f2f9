"""Manifests: what a finished stage read, the config that shaped it, and what it wrote.

A manifest records the digests of the manifests upstream (or the archives, for extract), the
stage's whole config, and the size of every file it wrote. It is written last, so a stage
killed half-way leaves no manifest and reruns. Each finished run gets a fresh digest, so
rerunning a stage makes everything after it stale.
"""
from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path
from typing import Any

from ..core.config import fingerprint
from ..core.io import atomic_write_json
from ..core.paths import Paths

# Bump when the manifest's layout changes: manifests of another format are not trusted.
MANIFEST_FORMAT = 2


def normalised(config: Any) -> dict:
    """The config's fingerprint as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(fingerprint(config)))


def changed_settings(wanted: dict, recorded: dict, defaults: dict, prefix: str = "") -> list[str]:
    """The settings (dotted, inside a nested config) in which a recorded fingerprint differs from the
    wanted one. One the record lacks counts as unchanged while it has its default: a setting added to
    the pipeline after the run, which the run had, in effect, at that value."""
    changed = []
    for name in sorted(set(wanted) | set(recorded)):
        if name not in recorded and name in defaults and wanted.get(name) == defaults[name]:
            continue
        if isinstance(wanted.get(name), dict) and isinstance(recorded.get(name), dict):
            changed += changed_settings(wanted[name], recorded[name], defaults.get(name) or {}, f"{prefix}{name}.")
        elif wanted.get(name) != recorded.get(name):
            changed.append(prefix + name)
    return changed


def read(paths: Paths, name: str) -> dict | None:
    try:
        manifest = json.loads(paths.manifest(name).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("format") == MANIFEST_FORMAT else None


def unusable(paths: Paths, name: str) -> str:
    """Why `read` found no manifest of stage `name`: none written, or one it cannot trust."""
    path = paths.manifest(name)
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        return "no finished run recorded"
    except (OSError, ValueError) as error:
        return f"its manifest {path} is not readable ({error}): truncated or damaged"
    found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
    return (f"its manifest {path} is of format {found}, from another version of this pipeline "
            f"(expected {MANIFEST_FORMAT})")


def outputs(paths: Paths, manifest: dict) -> list[tuple[Path, int]]:
    """The files a finished run wrote, each with the size it had."""
    return [(paths.work_dir / recorded, recorded_size)  # an absolute path stays as it is
            for recorded, recorded_size in manifest.get("outputs", {}).items()]


def size(path: Path) -> int:
    """Bytes of a file, or the number of files under a folder."""
    if path.is_dir():
        return sum(1 for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def key(path: Path, paths: Paths) -> str:
    """Outputs inside the work folder are recorded relative to it, so the folder can move."""
    try:
        return path.relative_to(paths.work_dir).as_posix()
    except ValueError:
        return str(path.resolve())


def write(paths: Paths, name: str, config: Any, upstream: tuple[str, ...], inputs: dict, outputs: list[Path],
          seconds: float) -> None:
    manifest = {
        "format": MANIFEST_FORMAT,
        "stage": name,
        "config": normalised(config),
        "upstream": {stage: read(paths, stage)["digest"] for stage in upstream},
        "inputs": inputs,
        "outputs": {key(p, paths): size(p) for p in outputs},
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "seconds": round(seconds, 1),
    }
    manifest["digest"] = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]
    atomic_write_json(paths.manifest(name), manifest)
