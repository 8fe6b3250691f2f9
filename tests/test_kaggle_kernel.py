"""A Kaggle kernel, simulated under tmp_path: the competition and this repository attached read-only
under input/, the saved output folder working/, the unsaved temp/; run.py run from the repository's
own (read-only) folder with no path flags."""
from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

import run
from competition import PipelineError
from competition.core.flags import settings_from_args
from competition.core.io import check_writable
from competition.data.archives import ARCHIVES, find_archives

COMPETITION = "tensorflow-speech-recognition-challenge"
REPOSITORY = "speech-commands"  # the repository attached as a dataset


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def _read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@pytest.fixture
def kernel(tmp_path, monkeypatch, tiny_competition):
    """The kernel's root, with the tiny competition and an empty repository folder attached read-only; the
    current folder is the repository's, as after `%cd /kaggle/input/<dataset>`."""
    root = tmp_path / "kaggle"
    for name in ARCHIVES:
        (root / "input" / COMPETITION).mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_competition / name, root / "input" / COMPETITION / name)
    (root / "input" / REPOSITORY).mkdir()
    (root / "input" / REPOSITORY / "run.py").write_text("# the repository's files\n")
    (root / "working").mkdir()
    _read_only(root / "input")
    monkeypatch.setattr("competition.core.paths.KAGGLE_ROOT", root)
    monkeypatch.chdir(root / "input" / REPOSITORY)
    yield root
    for path in [root / "input", *(root / "input").rglob("*")]:  # let tmp_path be removed
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def _paths(argv: list[str]):
    args = run.parse_args(argv)
    return run.paths_from_args(args, settings_from_args(args, demo=args.demo))


def _under(path: Path, folder: Path) -> bool:
    return folder in path.absolute().parents


@pytest.mark.parametrize("argv, submission", [
    ([], "submission.csv"),
    (["--demo"], "demo_submission.csv"),
    (["--task", "words"], "words-submission.csv"),
    (["--stage", "baseline", "--baseline-model", "logreg"], "baseline-logreg.csv"),
])
def test_in_a_kernel_the_submission_is_saved_and_the_work_folder_is_not(kernel, argv, submission):
    paths = _paths(argv)
    assert paths.output == kernel / "working" / submission  # where Submit looks, whatever the current folder
    assert paths.output.is_absolute()
    assert _under(paths.work_dir, kernel / "temp")
    assert not _under(paths.work_dir, kernel / "working") and not _under(paths.work_dir, kernel / "input")
    for folder in (paths.work_dir, paths.output.parent):
        check_writable(folder, "a default folder")  # raises if it were not
    assert find_archives(paths.input_dir) == {name: kernel / "input" / COMPETITION / name for name in ARCHIVES}


def test_in_a_kernel_the_demo_writes_its_competition_outside_the_read_only_input(kernel):
    paths = _paths(["--demo"])
    assert _under(paths.input_dir, kernel / "temp") and _under(paths.work_dir, kernel / "temp")
    assert paths.input_dir != paths.work_dir and not _under(paths.input_dir, paths.work_dir)


def test_the_work_folder_can_be_kept_in_the_saved_output(kernel):
    paths = _paths(["--work-dir", str(kernel / "working" / "work")])
    assert paths.work_dir == kernel / "working" / "work" and paths.output == kernel / "working" / "submission.csv"


def test_outside_a_kernel_the_defaults_are_the_checkouts_folders(tmp_path, monkeypatch):
    monkeypatch.setattr("competition.core.paths.KAGGLE_ROOT", tmp_path / "no-kaggle")
    (tmp_path / "no-kaggle" / "input").mkdir(parents=True)  # an input folder alone does not make a kernel
    paths = _paths([])
    assert (paths.input_dir, paths.work_dir, paths.output) == (
        Path("input"), Path("working"), Path("submissions/submission.csv"))
    assert _paths(["--demo"]).work_dir == Path("working/demo")


def test_run_py_from_the_read_only_repository_extracts_without_writing_to_the_input(kernel, capsys):
    """The first stage end to end with every path at its default: archives found under input/, the
    extracted clips in temp/, nothing written to input/ (checked file by file, since root may write
    to a read-only folder)."""
    before = _tree(kernel / "input")
    assert run.main(["--stage", "extract", "--workers", "1"]) == 0, capsys.readouterr().err
    assert _tree(kernel / "input") == before
    work = kernel / "temp" / "work"
    assert (work / "extract" / "sample_submission.csv").is_file()
    assert (work / "manifests" / "extract.json").is_file() and (work / "recipe.toml").is_file()
    assert sorted(p.name for p in (kernel / "working").iterdir()) == []  # the saved output holds no caches


def test_a_folder_under_the_read_only_input_is_refused_with_its_path_and_where_to_write(kernel, capsys):
    # a file where the folder would be fails for every user, root too, as a read-only mount does
    blocked = Path.cwd() / "run.py" / "work"
    assert run.main(["--stage", "extract", "--work-dir", str(blocked)]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error: the work folder (--work-dir)")
    assert str(blocked) in err and "is not writable" in err
    assert f"{kernel / 'input'}/ is read-only in a Kaggle kernel" in err and str(kernel / "temp") in err


def test_an_output_folder_that_cannot_be_written_names_the_flag_and_the_path(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(PipelineError) as error:
        check_writable(blocker / "out", "the submission's folder (--output)")
    message = str(error.value)
    assert message.startswith(f"the submission's folder (--output) {blocker / 'out'} is not writable (")
    assert "expected a folder this run can create files in" in message and "Kaggle" not in message

