import numpy as np
import pytest
import scipy.io.wavfile
import scipy.signal
from conftest import tone, write_wav

from competition.core.config import AudioConfig, FeaturesConfig, Settings, project
from competition.data.features import write_feature_array
from competition.frontend.audio import AudioError, fix_length, load_clip, read_wav, room_tone
from competition.frontend.spectral import log_spectrogram

AUDIO = AudioConfig()
NOTEBOOK = AudioConfig(target_rate=8_000)  # the notebook recipe this project grew from: resampled to 8 kHz


def test_derived_sizes_of_the_default_and_of_the_notebook_recipe():
    assert (AUDIO.clip_samples, AUDIO.target_samples) == (16_000, 16_000)
    assert (AUDIO.window_samples, AUDIO.step_samples) == (320, 160)
    assert AUDIO.feature_shape == (99, 161)
    assert (NOTEBOOK.target_samples, NOTEBOOK.window_samples, NOTEBOOK.step_samples) == (8_000, 160, 80)
    assert NOTEBOOK.feature_shape == (99, 81)


def test_fix_length_pads_with_zeros_and_chops():
    assert np.array_equal(fix_length(np.ones(3), 5), [1, 1, 1, 0, 0])
    assert np.array_equal(fix_length(np.arange(8), 5), np.arange(5))


@pytest.mark.parametrize("seconds", [0.3, 1.0, 1.7])
def test_any_length_becomes_one_clip(tmp_path, seconds):
    clip = load_clip(write_wav(tmp_path / "a.wav", tone(seconds)), AUDIO)
    assert clip.shape == (16_000,) and clip.dtype == np.float32
    assert np.abs(clip).max() <= 1.0


def test_other_sample_rates_are_resampled_to_16k(tmp_path):
    path = write_wav(tmp_path / "8k.wav", tone(1.0, rate=8_000, frequency=1_000), rate=8_000)
    clip = load_clip(path, AUDIO)
    spectrum = np.abs(np.fft.rfft(clip))
    assert clip.shape == (16_000,) and abs(np.argmax(spectrum) - 1_000) <= 2  # 1 Hz bins: the tone stays at 1 kHz


def test_offset_and_gain_cut_a_window_of_a_longer_file(tmp_path):
    samples = (np.arange(48_000) % 1000).astype(np.int16)
    clip = load_clip(write_wav(tmp_path / "long.wav", samples), AUDIO, offset=20_000, gain=0.5)
    assert np.allclose(clip * 2 * 32768, samples[20_000:36_000])


def test_stereo_is_mixed_down(tmp_path):
    stereo = np.stack([tone(), np.zeros(16_000, np.int16)], axis=1)
    rate, mono = read_wav(write_wav(tmp_path / "s.wav", stereo))
    assert mono.shape == (16_000,) and np.allclose(mono, tone() / 32768 / 2, atol=1e-4)


def test_not_a_wav_names_the_file(tmp_path):
    bogus = tmp_path / "bogus.wav"
    bogus.write_bytes(b"this is not audio")
    with pytest.raises(AudioError, match="bogus.wav"):
        read_wav(bogus)


@pytest.mark.parametrize("audio", [AUDIO, NOTEBOOK], ids=["16k", "8k"])
def test_log_spectrogram_shape_and_reference_values(tmp_path, audio):
    path = write_wav(tmp_path / "a.wav", tone(0.8))
    features = log_spectrogram(np.stack([load_clip(path, audio)] * 3), audio)
    assert features.shape == (3, *audio.feature_shape) and features.dtype == np.float32
    # The notebook recipe, one file at a time (at 16 kHz its resampling is the identity).
    _, samples = scipy.io.wavfile.read(path)
    padded = np.pad(samples.astype(np.float32) / 32768, (0, 16_000 - len(samples)))
    resampled = scipy.signal.resample(padded, audio.target_samples)
    frame, overlap = audio.window_samples, audio.window_samples - audio.step_samples
    _, _, power = scipy.signal.spectrogram(resampled, fs=audio.target_rate, window="hann", nperseg=frame,
                                           noverlap=overlap, detrend=False)
    reference = np.log(power.T.astype(np.float32) + 1e-10)
    assert np.allclose(features[0], reference, atol=1e-3)
    assert np.array_equal(features[0], features[2])


@pytest.mark.parametrize("workers", [1, 2])
def test_feature_array_rows_follow_the_sources(tmp_path, workers, monkeypatch):
    import competition.data.features as features

    monkeypatch.setattr(features, "CHUNK_SIZE", 2)
    sources = [(str(write_wav(tmp_path / f"{f}.wav", tone(frequency=f))), 0, 1.0, "clip")
               for f in (300, 900, 1500, 2100, 2700)]
    target = tmp_path / "out.npy"
    write_feature_array(sources, target, project(FeaturesConfig, Settings(workers=workers, feature_dtype="float32")),
                        desc="test")
    array = np.load(target)
    assert array.shape == (5, *AUDIO.feature_shape)
    peaks = array.mean(axis=1).argmax(axis=1) * 50  # 50 Hz per bin: a 20 ms window at any rate
    assert list(peaks) == [300, 900, 1500, 2100, 2700]
    assert not list(tmp_path.glob(".*partial*"))


def test_room_tone_loops_the_quietest_stretch_of_a_recording():
    rng = np.random.default_rng(0)
    hiss = rng.normal(0, 0.001, 16_000).astype(np.float32)
    recording = hiss.copy()
    recording[4_000:12_000] += 0.5 * np.sin(np.arange(8_000) / 5)  # the word
    tone = room_tone(recording, 16_000, 16_000, phase=123)
    assert tone.shape == (16_000,) and tone.dtype == np.float32
    assert np.sqrt((tone ** 2).mean()) < 0.002  # the hiss, not the word
    assert np.abs(np.diff(tone)).max() < 0.01  # reflected loops: no jumps at the joins


def test_single_precision_resampling_and_spectrogram_match_scipy():
    rng = np.random.default_rng(4)
    clips = (rng.normal(0, 0.2, (4, 16_000)) * np.hanning(16_000)).astype(np.float32)
    from competition.frontend.spectral import resample

    reference = scipy.signal.resample(clips.astype(np.float64), 8_000, axis=-1)
    assert np.allclose(resample(clips, NOTEBOOK), reference, atol=1e-5)
    _, _, power = scipy.signal.spectrogram(reference, fs=8_000, window="hann", nperseg=160, noverlap=80,
                                           detrend=False, axis=-1)
    assert np.allclose(log_spectrogram(clips, NOTEBOOK), np.log(np.swapaxes(power, -1, -2) + 1e-10), atol=1e-3)
    assert np.allclose(resample(clips, AUDIO), clips, atol=1e-6)  # the default model hears the clips' own rate


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_feature_rows_read_slices_of_the_cache_without_a_memory_map(tmp_path, dtype):
    from competition.data.features import FeatureRows

    sources = [(str(write_wav(tmp_path / f"{f}.wav", tone(frequency=f))), 0, 1.0, "clip")
               for f in (300, 900, 1500, 2100)]
    target = tmp_path / "rows.npy"
    write_feature_array(sources, target, project(FeaturesConfig, Settings(workers=1, feature_dtype=dtype)), desc="test")
    whole, rows = np.load(target), FeatureRows(target)
    assert len(rows) == 4 and rows.shape == whole.shape and rows.dtype == whole.dtype
    assert np.array_equal(rows[1:3], whole[1:3]) and np.array_equal(rows[3:10], whole[3:])
    assert rows[4:9].shape == (0, *AUDIO.feature_shape)


def test_a_truncated_or_foreign_cache_is_named_before_any_prediction(tmp_path):
    from competition import PipelineError
    from competition.data.features import FeatureRows

    np.save(tmp_path / "good.npy", np.zeros((4, 2, 3), np.float16))
    (tmp_path / "short.npy").write_bytes((tmp_path / "good.npy").read_bytes()[:-5])
    (tmp_path / "text.npy").write_text("fname,label\n")
    with pytest.raises(PipelineError, match=r"short.npy: \d+ bytes where its header promises \d+"):
        FeatureRows(tmp_path / "short.npy")
    with pytest.raises(PipelineError, match="text.npy: not a readable feature cache"):
        FeatureRows(tmp_path / "text.npy")


def test_upsampling_splits_the_nyquist_bin_as_scipy_does():
    from competition.frontend.spectral import resample

    clips = np.random.default_rng(5).normal(size=(2, 8_000)).astype(np.float32)
    up = AudioConfig(sample_rate=16_000, target_rate=32_000)  # 1 s at 16 kHz -> 32,000 samples
    reference = scipy.signal.resample(clips[:, :8_000].astype(np.float64), 16_000, axis=-1)
    assert np.allclose(resample(clips, AudioConfig(sample_rate=8_000, target_rate=16_000)), reference, atol=1e-5)
    assert resample(np.zeros((1, 16_000)), up).shape == (1, 32_000)


@pytest.mark.parametrize("rate, dtype", [(16_000, np.int16), (16_000, np.float32), (8_000, np.int16),
                                         (16_000, np.uint8)])
def test_a_window_of_a_long_file_is_what_reading_all_of_it_gives(tmp_path, rate, dtype, monkeypatch):
    """Noise windows are cut from a memory map of the file; other rates and formats read it all."""
    import competition.frontend.audio as audio_module

    rng = np.random.default_rng(6)
    noise = rng.normal(0, 0.2, 5 * rate).clip(-1, 1)
    samples = {np.int16: (noise * 32767).astype(np.int16), np.float32: noise.astype(np.float32),
               np.uint8: ((noise + 1) * 127.5).astype(np.uint8)}[dtype]
    path = write_wav(tmp_path / "noise.wav", np.stack([samples, samples], axis=1), rate=rate)
    windowed = load_clip(path, AUDIO, offset=23_456, gain=0.7)
    monkeypatch.setattr(audio_module, "_window_of_long_file", lambda *args: None)
    assert np.array_equal(windowed, load_clip(path, AUDIO, offset=23_456, gain=0.7))
    assert np.array_equal(load_clip(path, AUDIO, offset=10 * rate), np.zeros(16_000, np.float32))  # past the end
