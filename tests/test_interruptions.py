"""SIGKILL in the middle of a stage, then the same command again: the same submission as a
run that was never interrupted, and training continues from its last finished epoch."""
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SETTINGS = ["--epochs", "3", "--batch-size", "32", "--workers", "1", "--seed", "3"]


def _command(input_dir: Path, folder: Path) -> list[str]:
    return [sys.executable, str(REPO / "run.py"), "--input-dir", str(input_dir), "--work-dir", str(folder / "work"),
            "--output", str(folder / "submission.csv"), *SETTINGS]


def _run(command: list[str]) -> str:
    finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return finished.stderr


def _kill_after(command: list[str], marker: str) -> str:
    """Start the command and SIGKILL it as soon as `marker` appears in its log."""
    process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    seen = []
    for line in process.stderr:
        seen.append(line)
        if marker in line:
            os.kill(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=600)
    assert process.returncode == -signal.SIGKILL, "".join(seen)[-3000:]
    return "".join(seen)


@pytest.fixture(scope="module")
def uninterrupted_folder(tiny_competition, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("uninterrupted")
    _run(_command(tiny_competition, folder))
    return folder


@pytest.fixture(scope="module")
def uninterrupted(uninterrupted_folder) -> bytes:
    return (uninterrupted_folder / "submission.csv").read_bytes()


def _history(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "work" / "model" / "history.csv").drop(columns="seconds")


@pytest.mark.parametrize("marker", [
    "stage extract: running", "stage features: running", "member 0 epoch 1:", "stage predict: running",
])
def test_killed_stage_then_rerun_gives_the_same_submission(uninterrupted, tiny_competition, tmp_path, marker):
    command = _command(tiny_competition, tmp_path)
    _kill_after(command, marker)
    assert not (tmp_path / "submission.csv").exists()
    log = _run(command)
    assert (tmp_path / "submission.csv").read_bytes() == uninterrupted
    assert not list(tmp_path.rglob("*.partial*")), "a temporary file survived the rerun"
    if marker.startswith("member"):
        assert "member 0: resuming after epoch 1" in log
        assert "member 0 epoch 1:" not in log  # the finished epoch is not trained again


def test_a_run_killed_after_a_later_epoch_resumes_the_very_same_training(uninterrupted_folder, tiny_competition,
                                                                        tmp_path):
    """Dropout, batch norm, augmentation and class weights all on (the default recipe), killed after
    epoch 2: every later epoch must be the uninterrupted run's, to the last bit, not only the labels."""
    command = _command(tiny_competition, tmp_path)
    _kill_after(command, "member 0 epoch 2:")
    log = _run(command)
    assert "member 0: resuming after epoch 2" in log
    resumed, whole = _history(tmp_path), _history(uninterrupted_folder)
    assert list(resumed.columns) == list(whole.columns)
    assert resumed.to_dict("records") == whole.to_dict("records")  # exact floats: loss, accuracy, validation
    assert (tmp_path / "submission.csv").read_bytes() == (uninterrupted_folder / "submission.csv").read_bytes()


def test_a_refit_killed_after_an_epoch_resumes_to_the_same_submission(uninterrupted_folder, tiny_competition,
                                                                     tmp_path):
    """--stage refit after the validated run: killed after its first epoch and run again, it ends with the
    submission and training history of a refit never interrupted."""

    refits = {}
    for name, kill in (("whole", False), ("killed", True)):
        folder = tmp_path / name
        shutil.copytree(uninterrupted_folder / "work", folder / "work")
        command = [*_command(tiny_competition, folder)[:-len(SETTINGS) - 2], "--output", str(folder / "refit.csv"),
                   *SETTINGS, "--stage", "refit"]
        if kill:
            _kill_after(command, "member 0 epoch 1 of")
            assert not (folder / "refit.csv").exists()
        log = _run(command)
        refits[name] = (folder / "refit.csv").read_bytes(), pd.read_csv(
            folder / "work" / "refit" / "history.csv").drop(columns="seconds").dropna(axis=1, how="all")
    chosen = len(refits["whole"][1])
    if chosen > 1:
        assert "member 0: resuming after epoch 1" in log
    assert refits["killed"][0] == refits["whole"][0]
    assert refits["killed"][1].to_dict("records") == refits["whole"][1].to_dict("records")
