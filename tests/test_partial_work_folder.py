"""A work folder copied in part: each command names the missing or broken file and what to run, in one line."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile

import run

SCRIPT = Path(run.__file__).resolve()
SETTINGS = ["--epochs", "1", "--batch-size", "32", "--workers", "1"]  # the finished run's (conftest)


def _remove(path: Path) -> None:
    shutil.rmtree(path) if path.is_dir() else path.unlink()


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


# (what is done to the copy, the file the error must name, the command's own arguments)
CASES = {
    "predict without labels.txt": (_remove, "model/labels.txt", ["--stage", "predict"]),
    "predict without predict_config.json": (_remove, "model/predict_config.json", ["--stage", "predict"]),
    "predict with half a predict_config.json": (_truncate, "model/predict_config.json", ["--stage", "predict"]),
    "predict without model.keras": (_remove, "model/model.keras", ["--stage", "predict"]),
    "predict with half a model.keras": (_truncate, "model/model.keras", ["--stage", "predict"]),
    "predict without the test table": (_remove, "features/test.csv", ["--stage", "predict"]),
    "predict without the test cache": (_remove, "features/test.npy", ["--stage", "predict"]),
    "predict with half a train manifest": (_truncate, "manifests/train.json", ["--stage", "predict"]),
    "predict with half a features manifest": (_truncate, "manifests/features.json", ["--stage", "predict"]),
    "classify without labels.txt": (_remove, "model/labels.txt", ["--classify", "CLIP"]),
    "classify without predict_config.json": (_remove, "model/predict_config.json", ["--classify", "CLIP"]),
    "classify with half a model.keras": (_truncate, "model/model.keras", ["--classify", "CLIP"]),
    "listen without its listening model": (_remove, "model/listening-model.keras", ["--listen", "CLIP"]),
    "listen with half a predict_config.json": (_truncate, "model/predict_config.json", ["--listen", "CLIP"]),
    "all without the extracted test clips": (_remove, "extract/test/audio", ["--stage", "all"]),
    "all with half an extract manifest": (_truncate, "manifests/extract.json", ["--stage", "all"]),
}


@pytest.fixture(scope="module")
def finished_copy(finished_run, tmp_path_factory):
    """One copy of the finished work folder; each case copies it again and breaks its copy."""
    paths, _ = finished_run
    folder = tmp_path_factory.mktemp("finished") / "work"
    shutil.copytree(paths.work_dir, folder)
    return folder


@pytest.mark.parametrize("case", list(CASES))
def test_a_partial_work_folder_is_one_error_line_naming_the_file(finished_copy, tmp_path, case):
    damage, name, command = CASES[case]
    work = tmp_path / "work"
    shutil.copytree(finished_copy, work)
    damage(work / name)
    clip = tmp_path / "clip.wav"
    scipy.io.wavfile.write(clip, 16_000, np.zeros(16_000, np.int16))
    no_archives = tmp_path / "no-archives"  # the copy came without the competition's archives
    no_archives.mkdir()
    arguments = [str(clip) if a == "CLIP" else a for a in command]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--work-dir", str(work), "--input-dir", str(no_archives),
         "--output", str(tmp_path / "submission.csv"), *SETTINGS, *arguments],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
        env={**os.environ, "PYTHONPATH": str(SCRIPT.parent)},
    )
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert str(work / name) in errors[0], errors[0]
    assert "run --stage" in errors[0] or "--input-dir" in errors[0], errors[0]
