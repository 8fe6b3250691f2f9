"""Stage 1, extract: find the competition archives and unpack them safely, once."""
from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import py7zr
from tqdm import tqdm

from .. import PipelineError
from ..core.io import atomic_dir
from ..core.paths import Paths, kaggle

log = logging.getLogger(__name__)

ARCHIVES = ("train.7z", "test.7z", "sample_submission.7z")
# What each archive must contribute to the extracted tree.
EXPECTED_LAYOUT = {
    "train.7z": "train/audio",
    "test.7z": "test/audio",
    "sample_submission.7z": "sample_submission.csv",
}
# A native 7-Zip unpacks several times faster than py7zr; any of these names will do.
SYSTEM_7Z_NAMES = ("7z", "7zz", "7za")


def system_7z() -> str | None:
    """The first 7-Zip executable on the PATH, or None (then py7zr does the work)."""
    return next((found for name in SYSTEM_7Z_NAMES if (found := shutil.which(name))), None)


def find_archives(input_dir: Path, kaggle_input: Path | None = None) -> dict[str, Path]:
    """Return the three archives, from `input_dir` or else from a Kaggle kernel's inputs."""
    kaggle_input = kaggle_input or kaggle().input
    searched = [str(input_dir)]
    candidates = [Path(input_dir)]
    if not _has_all(Path(input_dir)) and kaggle_input.is_dir():
        searched.append(f"{kaggle_input}/**")
        candidates += sorted(p.parent for p in kaggle_input.rglob("train.7z"))
    for folder in candidates:
        if _has_all(folder):
            return {name: folder / name for name in ARCHIVES}
    raise PipelineError(
        f"competition archives not found: expected {', '.join(ARCHIVES)} together in one "
        f"folder; searched {', '.join(searched)} (pass --input-dir, or --demo for a synthetic competition)"
    )


def _has_all(folder: Path) -> bool:
    return all((folder / name).is_file() for name in ARCHIVES)


def archive_fingerprint(archives: dict[str, Path]) -> dict[str, dict[str, int]]:
    """Size and modification time: cheap, and enough to notice a replaced archive."""
    fingerprint = {}
    for name, path in sorted(archives.items()):
        stat = path.stat()
        fingerprint[name] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return fingerprint


def check_member_name(archive: Path, name: str) -> None:
    """Refuse names that would land outside the extraction folder."""
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or (posix.parts and posix.parts[0].endswith(":")) or ".." in posix.parts:
        raise PipelineError(
            f"{archive}: member {name!r} would be written outside the extraction folder "
            "(absolute path or '..'); refusing to extract this archive"
        )


def _check_members(archive: Path, zf: py7zr.SevenZipFile) -> None:
    for info in zf.list():
        check_member_name(archive, info.filename)
        if info.is_symlink:
            raise PipelineError(
                f"{archive}: member {info.filename!r} is a symbolic link; the competition "
                "archives hold none, refusing to extract this archive"
            )


def extract(archives: dict[str, Path], paths: Paths) -> None:
    """Unpack all archives into a temporary folder, then rename it into place. Member names
    are checked from the archive's header (py7zr) before anything is written, whichever
    program then unpacks it."""
    tool = system_7z()
    log.info("unpacking with %s", tool or "py7zr (no 7z on the PATH)")
    with atomic_dir(paths.extract_dir) as temp:
        for name, archive in tqdm(sorted(archives.items()), desc="extract", unit="archive"):
            log.info("extracting %s (%.1f MB)", archive, archive.stat().st_size / 1e6)
            try:
                with py7zr.SevenZipFile(archive, mode="r") as zf:
                    _check_members(archive, zf)
                    if tool is None:
                        zf.extractall(path=temp)
                if tool is not None:
                    _run_7z(tool, archive, temp)
            except PipelineError:
                raise
            except Exception as error:  # py7zr raises many types for damaged archives
                raise PipelineError(f"{archive}: cannot extract ({type(error).__name__}: {error})") from error
            expected = temp / EXPECTED_LAYOUT[name]
            if not expected.exists():
                found = sorted(p.name for p in temp.iterdir())
                raise PipelineError(
                    f"{archive}: expected it to contain {EXPECTED_LAYOUT[name]}, "
                    f"found top-level entries {found}"
                )


def _run_7z(tool: str, archive: Path, target: Path) -> None:
    # No terminal and a dummy password: an archive with encrypted contents fails instead of
    # waiting for someone to type a password.
    result = subprocess.run([tool, "x", "-y", "-bd", "-pnot-encrypted", f"-o{target}", str(archive)],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace")
    if result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-3:]
        raise PipelineError(f"{archive}: cannot extract ({tool} exited with {result.returncode}: {' / '.join(detail)})")
