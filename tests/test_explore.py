"""The explore side stage on the tiny competition, and the MFCC and voice-activity pieces it uses."""
import base64
import dataclasses
import io
import re

import numpy as np
import pandas as pd
import pytest
import scipy.fft
import scipy.io.wavfile

import run
from competition import PipelineError, stages
from competition.analysis.explore import ANOMALIES, band_power, explore, speech_bounds
from competition.core.config import ExploreConfig, Settings
from competition.core.paths import Paths
from competition.frontend import mfcc16k as mfcc
from competition.frontend.audio import load_clip
from competition.stages import manifests

FIGURES = ["clips_per_word.png", "clips_per_label.png", "speakers_per_word.png", "clips_per_speaker.png",
           "durations.png", "not_one_second.png", "sample_clip.png", "mean_spectrograms.png", "mean_fft.png",
           "resampling.png", "pca.png", "voice_activity.png", "word_lengths.png"]


def _paths(root, competition) -> Paths:
    return Paths(input_dir=competition, work_dir=root / "work", output=root / "submission.csv")


@pytest.fixture(scope="module")
def explored(tiny_competition, tmp_path_factory):
    paths = _paths(tmp_path_factory.mktemp("explore"), tiny_competition)
    settings = Settings(workers=1, explore_per_word=4)
    for stage in ("extract", "prepare", "explore"):
        stages.run(stage, paths, settings)
    return paths, settings


def test_every_figure_is_a_png_shown_in_order_with_a_reading(explored):
    paths, _ = explored
    folder = paths.reports_dir / "explore"
    assert sorted(p.name for p in folder.glob("*.png")) == sorted(FIGURES)
    for name in FIGURES:
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (folder / "index.html").read_text()
    shown = re.findall(r"<img src='([^']+)'", page)
    assert shown == FIGURES
    readings = re.findall(r"<h3>\d+\. ([^<]+)</h3>", page)
    assert len(readings) == len(FIGURES) + 1 and all(len(r) > 30 for r in readings)  # + the anomalies table
    assert "Recordings per word: 30 words" in page


def test_anomalies_lists_the_most_distant_sampled_clips(explored):
    paths, settings = explored
    table = pd.read_csv(paths.reports_dir / "explore" / "anomalies.csv")
    assert list(table.columns) == ["rank", "path", "word", "label", "speaker", "duration", "distance", "pc1", "pc2",
                                   "share_above_cutoff"]
    assert len(table) == min(ANOMALIES, 30 * settings.explore_per_word)
    assert table["distance"].is_monotonic_decreasing
    assert all((paths.extract_dir / p).is_file() for p in table["path"])


def _players(page: str) -> list[bytes]:
    return [base64.b64decode(p) for p in re.findall(r"src='data:audio/wav;base64,([^']+)'", page)]


def test_the_page_has_the_3d_views_and_a_player_for_each_anomaly(explored):
    paths, settings = explored
    folder = paths.reports_dir / "explore"
    page = (folder / "index.html").read_text()
    table = pd.read_csv(folder / "anomalies.csv")
    assert re.findall(r"<script src='([^']+)'", page) == ["plotly.min.js"] and (folder / "plotly.min.js").is_file()
    assert '"sample-surface"' in page and '"pca-3d"' in page and '"type":"surface"' in page
    assert not re.search(r"https?://", page)  # the library is local; the figures name no outside address
    # every sampled clip is a point whose hover names its file, word and speaker (the sample is
    # smaller than the scatter's limit here)
    sample = 30 * settings.explore_per_word
    assert f"{sample:,} points shown" in page and f"anomalies ({len(table)})" in page
    # plotly writes < as \u003c inside its scripts, so a file name cannot close the script tag
    assert r"file: %{customdata[0]}\u003cbr\u003eword: %{customdata[1]}\u003cbr\u003espeaker: %{customdata[2]}" in page
    for row in table.itertuples():
        assert f'["{row.path}","{row.word}","{row.speaker}"]'.replace("/", r"\u002f") in page
    # the sample clip's player, then one per anomaly, in rank order, each the clip as the stage read it
    players = _players(page)
    assert len(players) == 1 + len(table)
    for wav, path in zip(players[1:], table["path"]):
        rate, samples = scipy.io.wavfile.read(io.BytesIO(wav))
        clip = load_clip(paths.extract_dir / path, settings.audio)
        assert rate == settings.audio.sample_rate and np.abs(samples / 32767 - clip).max() < 1e-4, path
    listed = re.findall(r"<tr><th>(\d+)</th><td>([^<]+)</td>", page)
    assert listed == [(str(r), p) for r, p in zip(table["rank"], table["path"])]


def test_explore_writes_the_same_bytes_again(explored, tmp_path):
    paths, settings = explored
    folder = paths.reports_dir / "explore"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    again = Paths(input_dir=paths.input_dir, work_dir=tmp_path, output=tmp_path / "out.csv")
    (tmp_path / "prepare").symlink_to(paths.prepare_dir)
    (tmp_path / "extract").symlink_to(paths.extract_dir)
    explore(again, ExploreConfig(seed=settings.seed, explore_per_word=4, audio=settings.audio))
    after = {p.name: p.read_bytes() for p in again.explore_report.iterdir()}
    # the page's intro names the folder it read
    after["index.html"] = after["index.html"].replace(str(again.extract_dir).encode(), str(paths.extract_dir).encode())
    assert sorted(after) == sorted(before) and all(after[name] == before[name] for name in before)


def test_explore_is_a_side_stage_with_its_own_manifest(explored):
    paths, settings = explored
    assert "explore" not in stages.STAGE_NAMES and "explore" in stages.SIDE_STAGE_NAMES
    manifest = manifests.read(paths, "explore")
    assert manifest["config"] == {"seed": settings.seed, "explore_per_word": 4,
                                  "audio": dataclasses.asdict(settings.audio)}
    assert manifest["outputs"] == {"reports/explore/index.html":
                                   (paths.reports_dir / "explore" / "index.html").stat().st_size}


def test_explore_without_prepare_says_which_stage_to_run(tiny_competition, tmp_path):
    paths = _paths(tmp_path, tiny_competition)
    stages.run("extract", paths, Settings(workers=1))
    with pytest.raises(PipelineError, match="needs the output of stage prepare.*run --stage prepare first"):
        stages.run("explore", paths, Settings(workers=1))
    assert not (paths.reports_dir / "explore").exists()


def test_run_py_refuses_a_bad_sample_size(tmp_path, capsys):
    assert run.main(["--stage", "explore", "--work-dir", str(tmp_path), "--explore-per-word", "0"]) == 1
    assert "--explore-per-word must be a positive integer; got 0" in capsys.readouterr().err


# ---- MFCC ----------------------------------------------------------------------------------

def test_mel_filterbank_triangles_rise_in_frequency_and_peak_near_one():
    bank = mfcc.mel_filterbank(40, 512, 16_000, 20.0, 8_000.0)
    assert bank.shape == (40, 257) and (bank >= 0).all()
    assert (bank.max(axis=1) > 0.5).all() and (bank.max(axis=1) <= 1.0).all()
    assert (np.diff(bank.argmax(axis=1)) >= 0).all() and bank.argmax(axis=1)[-1] > bank.argmax(axis=1)[0]
    with pytest.raises(ValueError):
        mfcc.mel_filterbank(40, 512, 16_000, 20.0, 9_000.0)


def test_a_tone_lands_in_the_mel_band_centred_on_it():
    config = mfcc.Mfcc16kConfig()
    t = np.arange(16_000) / 16_000
    energies = mfcc.log_mel(np.sin(2 * np.pi * 1_000 * t), config)[0].mean(axis=0)
    centres = mfcc.mel_to_hz(np.linspace(mfcc.hz_to_mel(config.fmin), mfcc.hz_to_mel(config.fmax),
                                         config.n_mels + 2))[1:-1]
    assert energies.argmax() == np.abs(centres - 1_000).argmin()


def test_mfccs_are_the_orthonormal_dct_of_log_mel():
    clips = np.random.default_rng(0).normal(0, 0.1, (2, 16_000)).astype(np.float32)
    config = mfcc.Mfcc16kConfig()
    log_mel = mfcc.log_mel(clips, config).astype(np.float64)
    n = config.n_mels
    k, m = np.arange(config.n_mfcc)[:, None], np.arange(n)[None, :]
    basis = np.sqrt(2 / n) * np.cos(np.pi * k * (m + 0.5) / n)
    basis[0] /= np.sqrt(2)
    assert np.allclose(mfcc.mfcc(clips, config), log_mel @ basis.T, atol=1e-3)
    assert np.allclose(scipy.fft.idct(scipy.fft.dct(log_mel, norm="ortho"), norm="ortho"), log_mel)


def test_deltas_of_a_ramp_are_its_slope():
    ramp = np.arange(20, dtype=float)[None, :, None] * np.array([1.0, -2.0])
    slope = mfcc.deltas(ramp, width=2)
    assert np.allclose(slope[0, 2:-2], [1.0, -2.0])
    assert np.allclose(mfcc.deltas(slope, width=2)[0, 4:-4], 0.0)


def test_pooled_mfcc_is_a_fixed_size_vector_per_clip():
    clips = np.random.default_rng(1).normal(0, 0.1, (3, 16_000))
    pooled = mfcc.pooled_mfcc(clips)
    assert pooled.shape == (3, 6 * mfcc.Mfcc16kConfig().n_mfcc) and np.isfinite(pooled).all()


# ---- signal pieces of the figures ------------------------------------------------------------

def _tone_in_noise(start: float, end: float, click_at: float | None = None) -> np.ndarray:
    rng = np.random.default_rng(2)
    clip = rng.normal(0, 1e-3, 16_000)
    t = np.arange(16_000) / 16_000
    inside = (t >= start) & (t < end)
    clip[inside] += 0.5 * np.sin(2 * np.pi * 440 * t[inside])
    if click_at is not None:
        clip[int(click_at * 16_000):int(click_at * 16_000) + 80] += 0.3
    return clip


def test_voice_activity_finds_the_word_and_leaves_a_distant_click_out():
    bounds, energy, threshold = speech_bounds(_tone_in_noise(0.4, 0.7, click_at=0.05), 16_000)
    assert bounds is not None and abs(bounds[0] - 0.4) < 0.03 and abs(bounds[1] - 0.7) < 0.03
    assert energy.max() > threshold
    assert speech_bounds(np.zeros(16_000), 16_000)[0] is None


def test_band_power_puts_a_tone_in_its_band():
    t = np.arange(16_000) / 16_000
    freqs, bands = band_power(np.sin(2 * np.pi * 1_030 * t)[None], 16_000)
    assert bands.shape == (1, len(freqs)) and freqs[bands[0].argmax()] == pytest.approx(1_025)
