"""Recordings in the formats people have: WAV variants, FLAC and OGG through the one reader, and
the competition's 16-bit WAVs read to exactly the samples they always gave."""
import struct

import numpy as np
import pytest
import scipy.io.wavfile
import soundfile

from competition.core.config import AudioConfig
from competition.frontend.audio import AudioError, audio_files, load_clip, read_wav

AUDIO = AudioConfig()


def _tone(rate: int = 16_000, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


@pytest.mark.parametrize("dtype, scale, offset", [
    (np.int16, 2**15, 0), (np.int32, 2**31, 0), (np.uint8, 2**7, 128),
])
def test_integer_wavs_give_exactly_the_samples_scaled_by_a_power_of_two(tmp_path, dtype, scale, offset):
    info = np.iinfo(dtype)
    samples = np.random.default_rng(0).integers(info.min, info.max, 16_000, endpoint=True).astype(dtype)
    scipy.io.wavfile.write(tmp_path / "x.wav", 16_000, samples)
    _, read = read_wav(tmp_path / "x.wav")
    expected = (samples.astype(np.float32) - np.float32(offset)) / np.float32(scale)
    assert read.dtype == np.float32 and np.array_equal(read, expected)


@pytest.mark.parametrize("name, kwargs, tolerance", [
    ("pcm16.wav", dict(subtype="PCM_16"), 1e-4),
    ("extensible.wav", dict(format="WAVEX", subtype="PCM_16"), 1e-4),
    ("pcm24.wav", dict(subtype="PCM_24"), 1e-6),
    ("float.wav", dict(subtype="FLOAT"), 1e-7),
    ("mu-law.wav", dict(subtype="ULAW"), 2e-2),
    ("a-law.wav", dict(subtype="ALAW"), 2e-2),
    ("clip.flac", dict(format="FLAC", subtype="PCM_16"), 1e-4),
])
def test_lossless_and_companded_formats_read_back_the_signal(tmp_path, name, kwargs, tolerance):
    tone = _tone()
    soundfile.write(tmp_path / name, tone, 16_000, **kwargs)
    clip = load_clip(tmp_path / name, AUDIO)
    assert clip.shape == (16_000,) and clip.dtype == np.float32
    assert np.abs(clip - tone).max() <= tolerance


def test_ogg_vorbis_is_decoded(tmp_path):
    tone = _tone()
    soundfile.write(tmp_path / "clip.ogg", tone, 16_000, format="OGG", subtype="VORBIS")
    clip = load_clip(tmp_path / "clip.ogg", AUDIO)
    assert clip.shape == (16_000,) and _correlation(clip[2000:-2000], tone[2000:-2000]) > 0.99  # lossy


def test_stereo_11025_hz_is_mixed_down_and_resampled(tmp_path):
    left = _tone(11_025)
    soundfile.write(tmp_path / "stereo.wav", np.stack([left, -left * 0], axis=1), 11_025, subtype="PCM_16")
    clip = load_clip(tmp_path / "stereo.wav", AUDIO)
    assert clip.shape == (16_000,)
    assert _correlation(clip[1000:-1000], _tone()[1000:-1000] / 2) > 0.999  # half the left channel


def test_a_list_chunk_before_the_data_is_skipped(tmp_path):
    samples = (_tone() * 32767).astype(np.int16)
    scipy.io.wavfile.write(tmp_path / "plain.wav", 16_000, samples)
    raw = (tmp_path / "plain.wav").read_bytes()
    info = b"INFOISFT" + struct.pack("<I", 8) + b"recorder"
    listed = b"LIST" + struct.pack("<I", len(info)) + info
    data = raw.index(b"data")
    body = raw[12:data] + listed + raw[data:]
    (tmp_path / "listed.wav").write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)
    assert np.array_equal(read_wav(tmp_path / "listed.wav")[1], read_wav(tmp_path / "plain.wav")[1])


def test_a_truncated_data_chunk_gives_what_is_there(tmp_path):
    samples = (_tone() * 32767).astype(np.int16)
    scipy.io.wavfile.write(tmp_path / "whole.wav", 16_000, samples)
    (tmp_path / "cut.wav").write_bytes((tmp_path / "whole.wav").read_bytes()[:-10_000])  # header says more
    rate, read = read_wav(tmp_path / "cut.wav")
    assert rate == 16_000 and 0 < len(read) < len(samples)
    assert np.array_equal(read, samples[:len(read)] / np.float32(2**15))


def test_a_window_of_a_long_flac_matches_reading_all_of_it(tmp_path):
    noise = np.random.default_rng(1).normal(0, 0.1, 5 * 16_000).astype(np.float32)
    soundfile.write(tmp_path / "noise.flac", noise, 16_000, subtype="PCM_16")
    window = load_clip(tmp_path / "noise.flac", AUDIO, offset=20_000)
    whole = read_wav(tmp_path / "noise.flac")[1]
    assert np.array_equal(window, whole[20_000:36_000])


def test_a_folder_lists_its_recordings_in_every_format_and_nothing_else(tmp_path):
    for name in ("b.wav", "a.flac", "c.ogg", "d.WAV", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in audio_files(tmp_path)] == ["a.flac", "b.wav", "c.ogg", "d.WAV"]


def test_a_text_file_named_flac_is_a_clear_error(tmp_path):
    (tmp_path / "fake.flac").write_text("not audio")
    with pytest.raises(AudioError, match=r"fake\.flac: not a readable audio file"):
        load_clip(tmp_path / "fake.flac", AUDIO)
