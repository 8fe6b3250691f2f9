"""The device runtime (python -m competition.device): the exported folder alone, run with numpy and
LiteRT in a virtual environment without TensorFlow, against the full install's tflite-int8 engine;
its errors; and standard input with a WAV header or at another rate."""
import io
import json
import os
import re
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from conftest import spy_on_recognizer

import run
from competition.device import __main__ as device
from competition.device.sources import stdin_source

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("tensorflow", "keras", "scipy", "sklearn", "pandas", "soundfile")


def write_pcm_wav(path: Path, samples: np.ndarray, rate: int = 16_000, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.asarray(samples, "<i2").tobytes())
    return path


def _wav_bytes(samples: np.ndarray, rate: int = 16_000, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.asarray(samples, "<i2").tobytes())
    return buffer.getvalue()


@pytest.fixture(scope="module")
def device_folder(exported, tmp_path_factory):
    """The export folder copied alone, with test clips and a stream of them (0.4 s apart) beside it.
    The listener's threshold is set to 0 in the copy's export.json: one epoch of training on the
    tiny competition is sure of nothing, and at 0 it reports a command every suppression time."""
    paths, _ = exported
    root = tmp_path_factory.mktemp("device")
    folder = shutil.copytree(paths.export_dir, root / "export")
    info = json.loads((folder / "export.json").read_text())
    info["listen"]["listen_threshold"] = 0.0
    (folder / "export.json").write_text(json.dumps(info))
    clips = sorted(paths.test_audio_dir.glob("*.wav"))[:12]
    for clip in clips:
        shutil.copy(clip, root / clip.name)
    pieces = []
    for clip in clips:
        with wave.open(str(clip)) as read:
            pieces += [np.frombuffer(read.readframes(read.getnframes()), "<i2"), np.zeros(6_400, np.int16)]
    stream = write_pcm_wav(root / "stream.wav", np.concatenate(pieces))
    return paths, folder, [root / clip.name for clip in clips], stream


def _full_install(capsys, argv: list[str]) -> list[str]:
    assert run.main(argv) == 0
    return capsys.readouterr().out.splitlines()


def test_the_folder_alone_runs_without_tensorflow_as_the_full_install_runs_it(device_folder, tmp_path, capsys):
    """A fresh venv with the base install only (numpy, ai-edge-litert from PyPI), the package copied
    so nothing of the worktree is on its path."""
    paths, folder, clips, stream = device_folder
    source = tmp_path / "source"
    shutil.copytree(REPO / "competition", source / "competition", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    installed = subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(source)],
                               capture_output=True, text=True, env=env, timeout=300)
    assert installed.returncode == 0, installed.stderr[-3000:]
    script = f"import importlib.util as u; print([m for m in {HEAVY!r} if u.find_spec(m)])"
    found = subprocess.run([python, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    assert found.stdout.strip() == "[]"

    def device_run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([python, "-m", "competition.device", *argv], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=300)

    classified = device_run("classify", str(folder), *map(str, clips))
    assert classified.returncode == 0, classified.stderr
    work = ["--work-dir", str(paths.work_dir), "--engine", "tflite-int8"]
    expected = _full_install(capsys, ["--classify", *map(str, clips), *work])
    assert classified.stdout.splitlines() == expected and len(expected) == len(clips)

    out = tmp_path / "found.csv"
    listened = device_run("listen", str(folder), str(stream), "--model", "int8", "--detections", str(out))
    assert listened.returncode == 0, listened.stderr
    expected = _full_install(capsys, ["--listen", str(stream), "--listen-threshold", "0", *work])
    assert listened.stdout.splitlines() == expected and len(expected) >= 5
    assert len(out.read_text().splitlines()) == len(expected) + 1
    assert "Traceback" not in listened.stderr + classified.stderr


def test_the_full_install_runs_an_export_whose_training_files_are_not_there(device_folder, tmp_path, capsys):
    paths, _, clips, _ = device_folder
    work = tmp_path / "work"
    shutil.copytree(paths.export_dir, work / "export")
    (work / "model").mkdir()
    for name in ("predict_config.json", "labels.txt"):
        shutil.copy(paths.model_dir / name, work / "model" / name)
    argv = ["--classify", str(clips[0]), "--engine", "tflite-int8"]
    trusted = _full_install(capsys, [*argv, "--work-dir", str(work)])
    assert trusted == _full_install(capsys, [*argv, "--work-dir", str(paths.work_dir)])


def _device(argv: list[str], capsys, stdin: bytes | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        class Stdin:
            buffer = io.BytesIO(stdin)

            def isatty(self):
                return False

        monkeypatch.setattr(sys, "stdin", Stdin())
    code = device.main([str(part) for part in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("change, message", [
    (lambda f: (f / "model_int8.tflite").unlink(), "{f}/model_int8.tflite is missing: copy the export folder whole"),
    (lambda f: (f / "export.json").unlink(), "{f}/export.json is missing: expected the folder --stage export writes"),
    (lambda f: shutil.copy(f / "model.tflite", f / "model_int8.tflite"),
     "{f}/model_int8.tflite: not the file export.json beside it describes"),
    (lambda f: (f / "labels.txt").write_text("yes\nno\n"), "{f}/labels.txt: not the file export.json beside it"),
    (lambda f: (f / "export.json").write_text("{}"), "{f}/export.json: expected an export description of version"),
], ids=["missing-model", "missing-description", "foreign-model", "foreign-labels", "old-description"])
def test_a_missing_or_foreign_file_is_one_error_line_naming_it(device_folder, tmp_path, capsys, change, message):
    _, folder, clips, stream = device_folder
    copy = shutil.copytree(folder, tmp_path / "export")
    change(copy)
    for argv in (["classify", copy, clips[0]], ["listen", copy, stream]):
        code, out, err = _device(argv, capsys)
        assert code == 1 and out == ""
        assert err.splitlines() == [err.strip()] and err.startswith("error: " + message.format(f=copy)), err


def test_bad_audio_is_named_and_the_other_files_go_on(device_folder, tmp_path, capsys):
    _, folder, clips, _ = device_folder
    (tmp_path / "notes.wav").write_text("this is not audio")
    with wave.open(str(tmp_path / "8bit.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(16_000)
        out.writeframes(bytes(16_000))
    code, out, err = _device(["classify", folder, tmp_path / "notes.wav", tmp_path / "8bit.wav", clips[0]], capsys)
    assert code == 1 and out.startswith(f"{clips[0]}: ")
    lines = err.splitlines()
    assert lines[0].startswith(f"error: {tmp_path / 'notes.wav'}: not a 16-bit PCM WAV file")
    assert lines[1].startswith(f"error: {tmp_path / '8bit.wav'}: 8-bit samples at 16000 Hz; expected 16-bit PCM")
    assert lines[2] == "error: 2 of 3 files could not be classified"


def test_a_wav_stream_on_standard_input_is_heard_as_its_samples_not_its_header(device_folder, capsys, monkeypatch):
    _, folder, _, stream = device_folder
    with wave.open(str(stream)) as read:
        pcm = read.readframes(read.getnframes())
    samples = np.frombuffer(pcm, "<i2")
    code, from_file, _ = _device(["listen", folder, stream], capsys)
    assert code == 0 and from_file
    assert _device(["listen", folder, "-"], capsys, pcm, monkeypatch)[:2] == (0, from_file)
    assert _device(["listen", folder, "-"], capsys, _wav_bytes(samples), monkeypatch)[:2] == (0, from_file)
    stereo = _wav_bytes(np.repeat(samples, 2), channels=2)  # the same samples in both channels
    assert _device(["listen", folder, "-"], capsys, stereo, monkeypatch)[:2] == (0, from_file)
    code, out, err = _device(["listen", folder, "-", "--rate", "8000"], capsys, _wav_bytes(samples), monkeypatch)
    assert code == 1 and err.startswith("error: standard input: a WAV stream at 16000 Hz, but a rate of 8000 Hz")
    floats = bytearray(_wav_bytes(samples))
    floats[20:22] = (3).to_bytes(2, "little")  # format 3: IEEE float, as arecord -f FLOAT_LE writes
    code, out, err = _device(["listen", folder, "-"], capsys, bytes(floats), monkeypatch)
    assert code == 1 and err.startswith("error: standard input (a WAV stream): not a 16-bit PCM WAV file")


def _without_listening_head(folder: Path, copy: Path) -> Path:
    """A copy of the export as an export from before the listening head: the model's own files only."""
    shutil.copytree(folder, copy)
    info = json.loads((copy / "export.json").read_text())
    for key in [key for key in info["files"] if key.startswith("listening-")]:
        name = info["files"].pop(key)
        del info["digests"][name]
        (copy / name).unlink()
    (copy / "export.json").write_text(json.dumps(info))
    return copy


def test_standard_input_at_another_rate_is_resampled_to_the_models(device_folder, capsys, monkeypatch, tmp_path):
    """On the model's own probabilities: the listening head's odds of this one-epoch model are all 0 or 1,
    and flip with any change of the input."""
    from competition.device.resample import resample

    _, folder, _, stream = device_folder
    folder = _without_listening_head(folder, tmp_path / "export")
    with wave.open(str(stream)) as read:
        samples = np.frombuffer(read.readframes(read.getnframes()), "<i2")
    seen = spy_on_recognizer(monkeypatch)
    heard = {}
    assert _device(["listen", folder, stream], capsys)[0] == 0
    heard["16k"], seen[:] = list(seen), []
    at_48k = np.round(resample(samples / 32768, 16_000, 48_000) * 32768).clip(-32768, 32767).astype("<i2")
    assert _device(["listen", folder, "-", "--rate", "48000"], capsys, at_48k.tobytes(), monkeypatch)[0] == 0
    heard["48k"] = seen
    times = {key: np.array([t for t, _ in rows]) for key, rows in heard.items()}
    scores = {key: np.stack([s for _, s in rows]) for key, rows in heard.items()}
    assert np.array_equal(times["16k"], times["48k"])
    # up to 48 kHz and down again is a low-pass near 8 kHz and a rounding to 16 bits: nearly the identity
    assert np.abs(scores["16k"] - scores["48k"]).max() < 0.02


def test_rate_and_options_are_checked(device_folder, tmp_path, capsys):
    _, folder, _, stream = device_folder
    code, _, err = _device(["listen", folder, stream, "--rate", "8000"], capsys)
    assert code == 1 and err.startswith(f"error: --rate applies to standard input (-); {stream} is a WAV file")
    code, _, err = _device(["listen", folder, "-", "--rate", "0"], capsys)
    assert code == 1 and err.startswith("error: --rate 0: expected a positive sample rate in Hz")
    code, _, err = _device(["listen", tmp_path / "nowhere", stream], capsys)
    assert code == 1 and re.match(r"error: .*nowhere: not a folder", err)


def test_a_wav_header_on_standard_input_gives_its_rate_and_channels():
    samples = np.array([0, 1000, -1000, 32767, -32768, 5, 7, -9], np.int16)
    raw = stdin_source(io.BytesIO(samples.tobytes()))
    assert raw.rate == 16_000 and np.array_equal(np.concatenate(list(raw.blocks)), samples / np.float32(32768))
    source = stdin_source(io.BytesIO(_wav_bytes(samples, rate=22_050, channels=2)))
    assert source.rate == 22_050
    pairs = samples.reshape(-1, 2) / np.float32(32768)
    assert np.array_equal(np.concatenate(list(source.blocks)), pairs.mean(axis=1, dtype=np.float32))
    short = stdin_source(io.BytesIO(samples[:3].tobytes()))  # fewer bytes than a header: raw samples
    assert np.array_equal(np.concatenate(list(short.blocks)), samples[:3] / np.float32(32768))


def _device_benchmark(folder: Path, clip: Path, *flags: str) -> dict:
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "device.py"), str(folder), str(clip),
                           "--repeats", "3", *flags], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_device_benchmark_counts_the_files_ops_and_multiply_accumulates(device_folder):
    from competition.export import convert

    _, folder, clips, _ = device_folder
    report = _device_benchmark(folder, clips[0])
    ops = [name for name, _ in convert.ops((folder / "model_int8.tflite").read_bytes())]
    assert report["ops_total"] == len(ops) and report["ops"]["CONV_2D"] == ops.count("CONV_2D")
    assert report["folder_bytes"] == sum(path.stat().st_size for path in folder.iterdir())
    # the front end's DFT alone: 99 frames of 320 samples (160 real, 160 imaginary) into 161 bins, twice over
    assert report["macs"]["FULLY_CONNECTED"] >= 99 * 160 * 322 * 2
    assert report["macs_by_dtype"]["int8"] > 0 and report["ms_per_window"] > 0
    assert report["file"] == "model_int8.tflite" and "LOGISTIC" not in report["ops"]

    listening = _device_benchmark(folder, clips[0], "--model", "float", "--listening")
    # listen's file: the same network and the head's ratio and gate on top, all in float
    assert listening["file"] == "listening_model.tflite" and listening["ops"]["LOGISTIC"] == 1
    assert "int8" not in listening["macs_by_dtype"] and listening["macs_total"] > report["macs_total"]
