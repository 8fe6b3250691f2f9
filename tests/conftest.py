"""Tiny data built in tmp_path: WAV folders, archives and a whole synthetic competition."""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import py7zr
import pytest
import scipy.io.wavfile

from competition.core.config import Settings
from competition.core.paths import Paths


def write_wav(path: Path, samples: np.ndarray, rate: int = 16_000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.wavfile.write(path, rate, samples)
    return path


def load_benchmark(name: str):
    """A script of benchmarks/ as a module: the folder is a set of scripts, not a package."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def spy_on_recognizer(monkeypatch) -> list:
    """A list that receives (time_s, scores) each time the recogniser is given a window's scores."""
    from competition.device.recognizer import Recognizer

    seen = []
    update = Recognizer.update

    def spy(self, time_s, scores, whole=True):
        seen.append((time_s, np.array(scores)))
        return update(self, time_s, scores, whole)

    monkeypatch.setattr(Recognizer, "update", spy)
    return seen


def tone(seconds: float = 1.0, rate: int = 16_000, frequency: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * frequency * t) * 32767).astype(np.int16)


def write_7z_with_member_name(archive: Path, name: str, data: bytes = b"payload") -> Path:
    """A 7z archive holding one member called `name`, even a name py7zr refuses to write.

    py7zr writes only safe names, so write a same-length placeholder into an unencoded
    header, swap the name in, and recompute the two header checksums.
    """
    placeholder = "x" * len(name)
    with py7zr.SevenZipFile(archive, "w") as zf:
        zf.set_encoded_header_mode(False)
        zf.writestr(data, placeholder)
    raw = bytearray(archive.read_bytes())
    old, new = placeholder.encode("utf-16-le"), name.encode("utf-16-le")
    assert raw.count(old) == 1
    raw = bytearray(raw.replace(old, new))
    next_offset, next_size = struct.unpack_from("<QQ", raw, 12)
    header = raw[32 + next_offset: 32 + next_offset + next_size]
    struct.pack_into("<I", raw, 28, zlib.crc32(header))
    struct.pack_into("<I", raw, 8, zlib.crc32(raw[12:32]))
    archive.write_bytes(bytes(raw))
    return archive


@pytest.fixture
def make_paths(tmp_path: Path):
    def make(name: str = "run") -> Paths:
        return Paths(input_dir=tmp_path / "input", work_dir=tmp_path / name, output=tmp_path / name / "submission.csv")
    return make


@pytest.fixture
def tiny_settings() -> Settings:
    return Settings(epochs=1, batch_size=32, workers=1)


@pytest.fixture(scope="session")
def tiny_competition(tmp_path_factory) -> Path:
    """The demo generator at its smallest: eight speakers, forty test clips."""
    from competition.data.demo import make_demo_competition

    folder = tmp_path_factory.mktemp("competition")
    make_demo_competition(folder, seed=7, n_speakers=8, n_test=40)
    return folder


@pytest.fixture(scope="session")
def finished_run(tiny_competition, tmp_path_factory):
    """The whole pipeline run once on the tiny competition; tests that change it work on a copy.

    Its listening head has no gate: after one epoch every stream window lies beyond the gate's radius, and
    the listener would report nothing where the listening tests need detections (tests/test_open_set.py
    checks the gate itself)."""
    import dataclasses

    from competition import stages
    from competition.models import open_set
    from competition.train import listening_head

    def ungated(*args, **kwargs):
        return dataclasses.replace(open_set.fit_head(*args, **kwargs), radius=1e30)

    root = tmp_path_factory.mktemp("pipeline")
    paths = Paths(input_dir=tiny_competition, work_dir=root / "work", output=root / "submission.csv")
    settings = Settings(epochs=1, batch_size=32, workers=1, operating_minutes=4)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(listening_head, "fit_head", ungated)
        stages.run("all", paths, settings)
    return paths, settings


@pytest.fixture(scope="session")
def exported(finished_run, tmp_path_factory):
    """A copy of the finished run, exported once (--stage export)."""
    import shutil

    from competition import stages

    paths, settings = finished_run
    root = tmp_path_factory.mktemp("exported")
    shutil.copytree(paths.work_dir, root / "work")
    copy = Paths(input_dir=paths.input_dir, work_dir=root / "work", output=root / "submission.csv")
    stages.run("export", copy, settings)
    return copy, settings
