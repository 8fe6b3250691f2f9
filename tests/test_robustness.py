"""Bad input and faults: each case builds the bad input and checks the outcome."""
import builtins
import dataclasses
import errno
import io
import struct

import numpy as np
import pandas as pd
import py7zr
import pytest
from conftest import tone, write_wav
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import run
from competition import PipelineError, stages
from competition.core.config import AudioConfig
from competition.core.labels import SILENCE_LABEL
from competition.core.paths import Paths
from competition.data.archives import extract
from competition.frontend.audio import AudioError, load_clip, read_wav

AUDIO = AudioConfig()


def _header(rate=16_000, channels=1, bits=16, data_size=0, fmt=1) -> bytes:
    block = channels * bits // 8
    return (b"RIFF" + struct.pack("<I", 36 + data_size) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, fmt, channels, rate, rate * block, block, bits)
            + b"data" + struct.pack("<I", data_size))


def _pcm24(values) -> bytes:
    data = b"".join(int(v).to_bytes(3, "little", signed=True) for v in values)
    return _header(bits=24, data_size=len(data)) + data


# ---- audio files -------------------------------------------------------------------------

@pytest.mark.parametrize("name, samples, rate", [
    ("uint8.wav", (tone() // 256 + 128).astype(np.uint8), 16_000),
    ("float32.wav", (tone() / 32768).astype(np.float32), 16_000),
    ("stereo.wav", np.stack([tone(), tone()], axis=1), 16_000),
    ("8k.wav", tone(rate=8_000), 8_000),
    ("22k.wav", tone(rate=22_050), 22_050),
    ("44k.wav", tone(rate=44_100), 44_100),
    ("48k.wav", tone(rate=48_000), 48_000),
    ("long.wav", tone(3.0), 16_000),
    ("short.wav", tone(0.1), 16_000),
    ("zeros.wav", np.zeros(16_000, np.int16), 16_000),
])
def test_unusual_but_valid_wavs_become_one_clean_clip(tmp_path, name, samples, rate):
    clip = load_clip(write_wav(tmp_path / name, samples, rate), AUDIO)
    assert clip.shape == (16_000,) and clip.dtype == np.float32 and np.isfinite(clip).all()
    assert np.abs(clip).max() <= 1.0
    if name != "zeros.wav":
        assert np.abs(clip).max() > 0.1


def test_24_bit_pcm_is_scaled_to_unit_range(tmp_path):
    path = tmp_path / "pcm24.wav"
    path.write_bytes(_pcm24([0, 4_000_000, -4_000_000, 8_388_607]))
    _, samples = read_wav(path)
    assert np.allclose(samples, [0, 4_000_000 / 2**23, -4_000_000 / 2**23, 1.0], atol=1e-6)


@pytest.mark.parametrize("name, content, message", [
    ("empty.wav", b"", "not a readable audio file"),
    ("header_only.wav", _header(), "holds no samples"),
    ("no_data_chunk.wav", _header()[:-8], "not a readable audio file"),
    ("text.wav", b"this is a text file, not audio", "not a readable audio file"),
    ("zero_rate.wav", _header(rate=0, data_size=4) + b"\x01\x00\x02\x00", "not a readable audio file"),
])
def test_broken_wavs_raise_an_error_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AudioError, match=rf"{name}: .*{message}"):
        read_wav(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_are_refused(tmp_path, bad):
    path = write_wav(tmp_path / "nan.wav", np.array([0.1, bad, 0.2], np.float32))
    with pytest.raises(AudioError, match=r"nan.wav: 1 samples are NaN or infinite"):
        read_wav(path)


@hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2048))
def test_random_bytes_never_crash_the_reader(tmp_path, content):
    path = tmp_path / "fuzz.wav"
    path.write_bytes(content)
    try:
        rate, samples = read_wav(path)
    except AudioError as error:
        assert "fuzz.wav" in str(error)
    else:
        assert rate > 0 and samples.ndim == 1 and np.isfinite(samples).all()


@hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rate=st.integers(0, 2**32 - 1), channels=st.integers(0, 8), bits=st.sampled_from([0, 1, 8, 12, 16, 24, 32, 64]),
       fmt=st.sampled_from([0, 1, 2, 3, 0xFFFE]), declared=st.integers(0, 2**32 - 1), payload=st.binary(max_size=512))
def test_random_valid_looking_headers_never_crash_the_reader(tmp_path, rate, channels, bits, fmt, declared, payload):
    path = tmp_path / "header.wav"
    block = channels * bits // 8
    header = (b"RIFF" + struct.pack("<I", (36 + len(payload)) % 2**32) + b"WAVEfmt "
              + struct.pack("<IHHIIHH", 16, fmt, channels, rate, (rate * block) % 2**32, block % 2**16, bits)
              + b"data" + struct.pack("<I", declared))
    path.write_bytes(header + payload)
    try:
        _, samples = read_wav(path)
    except AudioError as error:
        assert "header.wav" in str(error)
    else:
        assert np.isfinite(samples).all()


# ---- archives ----------------------------------------------------------------------------

def _paths(tmp_path) -> Paths:
    return Paths(input_dir=tmp_path / "input", work_dir=tmp_path / "work", output=tmp_path / "out.csv")


def test_a_truncated_archive_is_a_clear_error_and_leaves_nothing_behind(tiny_competition, tmp_path):
    paths = _paths(tmp_path)
    paths.input_dir.mkdir()
    data = (tiny_competition / "train.7z").read_bytes()
    (paths.input_dir / "train.7z").write_bytes(data[: len(data) // 2])
    with pytest.raises(PipelineError, match=r"train\.7z: cannot extract"):
        extract({"train.7z": paths.input_dir / "train.7z"}, paths)
    assert not paths.extract_dir.exists() and list(paths.work_dir.iterdir()) == []


def test_garbage_in_place_of_an_archive_is_a_clear_error(tmp_path):
    paths = _paths(tmp_path)
    paths.input_dir.mkdir()
    (paths.input_dir / "test.7z").write_bytes(b"PK\x03\x04 this is a zip, not a 7z")
    with pytest.raises(PipelineError, match=r"test\.7z: cannot extract"):
        extract({"test.7z": paths.input_dir / "test.7z"}, paths)


def test_an_archived_symbolic_link_is_refused(tmp_path):
    folder = tmp_path / "content" / "train" / "audio"
    folder.mkdir(parents=True)
    (folder / "escape.wav").symlink_to("/etc/passwd")
    archive = tmp_path / "train.7z"
    with py7zr.SevenZipFile(archive, "w") as zf:
        zf.writeall(tmp_path / "content" / "train", arcname="train")
    paths = _paths(tmp_path)
    with pytest.raises(PipelineError, match=r"escape\.wav' is a symbolic link"):
        extract({"train.7z": archive}, paths)
    assert not paths.extract_dir.exists()


# ---- settings ----------------------------------------------------------------------------

def test_an_unwritable_work_dir_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert run.main(["--work-dir", str(blocker / "work"), "--input-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the work folder (--work-dir)") and "is not writable" in err and "\n" not in err


def test_holdout_words_must_be_auxiliary_words(tmp_path, capsys):
    assert run.main(["--holdout-words", "yes,dog", "--work-dir", str(tmp_path / "w")]) == 1
    assert "--holdout-words must be auxiliary words" in capsys.readouterr().err


# ---- unreadable clips, end to end --------------------------------------------------------

@pytest.fixture
def prepared(tiny_competition, tmp_path, tiny_settings):
    paths = Paths(input_dir=tiny_competition, work_dir=tmp_path / "work", output=tmp_path / "submission.csv")
    stages.run("extract", paths, tiny_settings)
    stages.run("prepare", paths, tiny_settings)
    return paths


def test_bad_clips_are_skipped_in_training_and_still_get_a_row_in_the_submission(prepared, tiny_settings, caplog):
    paths = prepared
    index = pd.read_csv(paths.index_csv, keep_default_na=False)
    bad_train = [paths.extract_dir / p for p in index.loc[index["split"] == "train", "path"][:2]]
    bad_train[0].write_bytes(b"")
    bad_train[1].write_bytes(b"not audio at all")
    bad_test = sorted(paths.test_audio_dir.glob("*.wav"))[:3]
    bad_test[0].write_bytes(_header())
    bad_test[1].write_bytes(b"RIFF")
    write_wav(bad_test[2], np.array([np.nan] * 100, np.float32))

    with caplog.at_level("WARNING"):
        for stage in ("features", "train", "predict"):
            stages.run(stage, paths, tiny_settings)
    for path in bad_train + bad_test:
        assert path.name in caplog.text
    assert "train: 2 of" in caplog.text and "skipped in training" in caplog.text
    assert "3 unreadable test clips get the fallback label 'silence'" in caplog.text
    submission = pd.read_csv(paths.output)
    assert len(submission) == len(pd.read_csv(paths.sample_submission))
    labels = submission.set_index("fname")["label"]
    assert all(labels[p.name] == SILENCE_LABEL for p in bad_test)
    history = pd.read_csv(paths.model_dir / "history.csv")
    assert len(history) == 1


# ---- disk full ---------------------------------------------------------------------------

def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_during_features_is_a_clear_error_with_nothing_half_written(prepared, tiny_settings, monkeypatch):
    monkeypatch.setattr("os.posix_fallocate", _no_space)
    with pytest.raises(PipelineError, match=r"disk full while writing .*\.npy.*free space"):
        stages.run("features", prepared, tiny_settings)
    assert not prepared.manifest("features").exists()
    assert list(prepared.features_dir.glob("*.npy")) == []


def test_disk_full_when_a_worker_writes_its_rows_is_the_same_clear_error(prepared, tiny_settings, monkeypatch):
    import competition.data.features as features

    def unsupported(*args, **kwargs):  # a file system without fallocate: the workers' writes find the full disk
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    class FullDisk(io.BytesIO):
        write = _no_space

    def open_cache(path, mode="r", *args, **kwargs):  # only the workers open the cache with "r+b"
        return FullDisk() if mode == "r+b" else builtins.open(path, mode, *args, **kwargs)

    monkeypatch.setattr("os.posix_fallocate", unsupported)
    monkeypatch.setattr(features, "open", open_cache, raising=False)
    with pytest.raises(PipelineError, match=r"disk full while writing .*\.npy.*free space"):
        stages.run("features", prepared, dataclasses.replace(tiny_settings, workers=1))
    assert not prepared.manifest("features").exists()
    assert list(prepared.features_dir.glob("*.npy")) == []


def test_disk_full_during_predict_leaves_the_previous_submission_untouched(prepared, tiny_settings, monkeypatch):
    for stage in ("features", "train"):
        stages.run(stage, prepared, tiny_settings)
    prepared.output.write_text("the previous submission\n")
    original_to_csv = pd.DataFrame.to_csv

    def full_disk_for_the_submission(self, path=None, *args, **kwargs):
        if path is not None and str(path).endswith(".csv") and ".submission." in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return original_to_csv(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk_for_the_submission)
    with pytest.raises(PipelineError, match="disk full while writing .*submission.csv"):
        stages.run("predict", prepared, tiny_settings)
    assert prepared.output.read_text() == "the previous submission\n"
    assert not list(prepared.output.parent.glob(".submission.*"))


def test_artefacts_get_ordinary_permissions_not_temporary_ones(tmp_path):
    import stat

    from competition.core import io as io_utils

    io_utils.atomic_write_text(tmp_path / "submission.csv", "fname,label\n")
    with io_utils.atomic_dir(tmp_path / "extract") as folder:
        (folder / "a").write_text("x")
    # what open() and mkdir() would give under the process's umask, not mkstemp's private 0600
    assert stat.S_IMODE((tmp_path / "submission.csv").stat().st_mode) == 0o666 & ~io_utils._UMASK
    assert stat.S_IMODE((tmp_path / "extract").stat().st_mode) == 0o777 & ~io_utils._UMASK
