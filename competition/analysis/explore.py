"""Side stage explore: figures about the training data in reports/explore/, with an index.html.

Counts and durations use every clip (durations from WAV headers); the figures that need
audio use a seeded sample of `explore_per_word` clips per word.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.signal
from tqdm import tqdm

from .. import PipelineError
from ..core.config import NOTEBOOK_RATE, ExploreConfig
from ..core.io import atomic_dir, atomic_path
from ..core.labels import COMMANDS, LABELS, UNKNOWN_LABEL, WORDS
from ..core.paths import Paths
from ..frontend import mfcc16k
from ..frontend.audio import AudioError, load_clip, wav_seconds
from ..frontend.spectral import log_spectrogram
from . import interactive
from .html import Item, Listen, wav_bytes, write_index

log = logging.getLogger(__name__)

BAND_HZ = 50  # FFT bins averaged into bands this wide: readable curves, fewer PCA inputs
PCA_COMPONENTS = 10  # distance is measured in these; later components are mostly one clip's noise
ANOMALIES = 30
VAD_EXAMPLES = 5
VAD_FRAME, VAD_HOP = 320, 160  # 20 ms frames every 10 ms at 16 kHz
VAD_MIN_RANGE_DB = 10.0  # quieter contrast than this between floor and peak: no word found
VAD_MAX_GAP_S = 0.15  # quiet stretches this short stay inside the word (the closure before the p of "stop")
SPLITS = ["train", "validation", "unused"]
# points in the 3-D PCA view: the whole default sample of the full competition (30 words x 100);
# a larger --explore-per-word is sampled down to this, so the page does not grow with it
SCATTER_POINTS = 3000


def read_index(paths: Paths) -> pd.DataFrame:
    try:
        return pd.read_csv(paths.index_csv, keep_default_na=False)
    except (OSError, ValueError) as error:
        raise PipelineError(f"{paths.index_csv}: cannot read it ({error}); run --stage prepare first") from error


def clip_durations(paths: Paths, words: pd.DataFrame) -> np.ndarray:
    """Seconds per clip from its header; NaN for an unreadable file (logged)."""
    durations = np.full(len(words), np.nan)
    for i, path in enumerate(tqdm(words["path"], desc="explore: durations", unit="clip")):
        try:
            durations[i] = wav_seconds(paths.extract_dir / path)
        except AudioError as error:
            log.warning("unreadable clip: %s", error)
    return durations


def sample_words(words: pd.DataFrame, per_word: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    picked = [group.iloc[np.sort(rng.choice(len(group), min(per_word, len(group)), replace=False))]
              for _, group in words.groupby("word", sort=True)]
    return pd.concat(picked).reset_index(drop=True)


def load_sample(paths: Paths, sample: pd.DataFrame, config: ExploreConfig) -> tuple[pd.DataFrame, np.ndarray]:
    clips, kept = [], []
    for i, path in enumerate(tqdm(sample["path"], desc="explore: sampled audio", unit="clip")):
        try:
            clips.append(load_clip(paths.extract_dir / path, config.audio))
            kept.append(i)
        except AudioError as error:
            log.warning("unreadable clip, left out of the sample: %s", error)
    if not clips:
        raise PipelineError(f"none of the {len(sample)} sampled clips under {paths.extract_dir} could be read")
    return sample.iloc[kept].reset_index(drop=True), np.stack(clips)


def band_power(clips: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean FFT power in BAND_HZ-wide bands: (band centres in Hz, (n, bands))."""
    power = np.abs(np.fft.rfft(clips, axis=-1)) ** 2
    freqs = np.fft.rfftfreq(clips.shape[-1], 1 / rate)
    bands = (freqs // BAND_HZ).astype(int)
    n_bands = int(bands.max())  # the Nyquist bin alone would make a band of its own
    sums = np.stack([np.bincount(bands, weights=row, minlength=n_bands + 1)[:n_bands] for row in power])
    return (np.arange(n_bands) + 0.5) * BAND_HZ, sums / np.bincount(bands)[:n_bands]


def decibels(power: np.ndarray) -> np.ndarray:
    return 10 * np.log10(np.maximum(power, 1e-12))


def speech_bounds(clip: np.ndarray, rate: int) -> tuple[tuple[float, float] | None, np.ndarray, float]:
    """Energy voice-activity detection. Frames louder than a threshold a third of the way from the
    noise floor (10th percentile) to the peak, in dB, are loud; the word is the loud stretch around
    the loudest frame, bridging quiet gaps up to VAD_MAX_GAP_S, so a click far away is left out."""
    starts = np.arange(0, len(clip) - VAD_FRAME + 1, VAD_HOP)
    frames = clip[starts[:, None] + np.arange(VAD_FRAME)]
    energy = decibels((frames.astype(np.float64) ** 2).mean(axis=1))
    floor, peak = np.percentile(energy, 10), energy.max()
    threshold = floor + (peak - floor) / 3
    if peak - floor < VAD_MIN_RANGE_DB:
        return None, energy, float(threshold)
    loud = energy > threshold
    loud_frames = np.flatnonzero(loud)
    for before, after in zip(loud_frames[:-1], loud_frames[1:]):
        if after - before <= VAD_MAX_GAP_S * rate / VAD_HOP:
            loud[before:after] = True
    first = last = int(energy.argmax())
    while first > 0 and loud[first - 1]:
        first -= 1
    while last < len(loud) - 1 and loud[last + 1]:
        last += 1
    return (first * VAD_HOP / rate, (last * VAD_HOP + VAD_FRAME) / rate), energy, float(threshold)


def explore(paths: Paths, config: ExploreConfig) -> None:
    from . import plots

    index = read_index(paths)
    words = index[index["word"].isin(WORDS)].reset_index(drop=True)
    if words.empty:
        raise PipelineError(f"{paths.index_csv} lists no word clips; rerun --stage prepare")
    words = words.assign(duration=clip_durations(paths, words))
    sample, clips = load_sample(paths, sample_words(words, config.explore_per_word, config.seed), config)
    log.info("explore: %d clips counted, %d sampled (%d per word at most)", len(words), len(sample),
             config.explore_per_word)
    folder = paths.explore_report
    with atomic_dir(folder) as out:
        items = (_count_figures(out, words, index, plots) + _duration_figures(out, words, plots)
                 + _clip_figures(out, sample, clips, config, plots)
                 + _anomaly_figures(out, sample, clips, config, plots)
                 + _vad_figures(out, sample, clips, config, plots))
        write_index(out, "Exploring the training data",
                    f"{len(words):,} word clips from {paths.extract_dir}; audio figures use a seeded sample of "
                    f"{len(sample):,} clips (at most {config.explore_per_word} per word, seed {config.seed}).",
                    items)
    pngs = [c for _, content in items for c in (content if isinstance(content, list) else [content])
            if isinstance(c, str)]
    log.info("explore: %d figures and their interactive views, see %s", len(pngs), paths.explore_page)


def _count_figures(out: Path, words: pd.DataFrame, index: pd.DataFrame, plots) -> list[Item]:
    by_word = words.groupby(["word", "split"]).size().unstack(fill_value=0)
    by_word = by_word.reindex(index=[w for w in WORDS if w in by_word.index],
                              columns=[s for s in SPLITS if s in by_word.columns])
    planned = index[index["label"].isin(LABELS) & index["split"].isin(SPLITS)]
    by_label = planned.groupby(["label", "split"]).size().unstack(fill_value=0)
    by_label = by_label.reindex(index=[label for label in LABELS if label in by_label.index],
                                columns=[s for s in SPLITS if s in by_label.columns])
    totals = by_word.sum(axis=1)
    commands = totals[totals.index.isin(COMMANDS)]
    speakers = words.groupby("word")["speaker"].nunique().reindex(by_word.index)
    per_speaker = words.groupby("speaker").size().sort_values(ascending=False)
    top = per_speaker.iloc[:max(1, len(per_speaker) // 10)].sum() / len(words)
    unknown_share = 1 - commands.sum() / totals.sum()
    plots.stacked_bars(out / "clips_per_word.png", by_word, "recordings per word, by split",
                       "recordings (clips)", "word")
    plots.stacked_bars(out / "clips_per_label.png", by_label,
                       "clips per competition label, by split (silence: windows planned from noise)",
                       "clips", "label")
    plots.stacked_bars(out / "speakers_per_word.png", speakers.to_frame("speakers"), "distinct speakers per word",
                       "speakers", "word")
    plots.histogram(out / "clips_per_speaker.png", per_speaker.to_numpy(), np.arange(per_speaker.max() + 1) + 0.5,
                    f"clips per speaker ({len(per_speaker):,} speakers)", "clips recorded by one speaker",
                    "speakers (log scale)", log_y=True,
                    marks={f"median {per_speaker.median():g}": float(per_speaker.median())})
    return [
        (f"Recordings per word: {len(totals)} words; the commands have {commands.min():,}-{commands.max():,} "
         f"clips each, the auxiliary words that make 'unknown' are {unknown_share:.0%} of all clips.",
         "clips_per_word.png"),
        (f"Per label: unknown has {by_label.loc['unknown'].sum() if 'unknown' in by_label.index else 0:,} clips, "
         f"of which {by_label.loc['unknown'].get('train', 0) if 'unknown' in by_label.index else 0:,} train "
         "(the rest is held out by --unknown-share and --holdout-words).", "clips_per_label.png"),
        (f"Speakers per word: {speakers.min():,}-{speakers.max():,}; {words['speaker'].nunique():,} speakers in all.",
         "speakers_per_word.png"),
        (f"Clips per speaker: median {per_speaker.median():g}, most {per_speaker.iloc[0]} "
         f"(speaker {per_speaker.index[0]}); the 10% busiest speakers recorded {top:.0%} of the clips, "
         "which is why validation holds out whole speakers.", "clips_per_speaker.png"),
    ]


def _duration_figures(out: Path, words: pd.DataFrame, plots) -> list[Item]:
    durations = words["duration"].dropna()
    short = words.assign(other=~np.isclose(words["duration"], 1.0)).dropna(subset=["duration"])
    share = short.groupby("word")["other"].mean().reindex([w for w in WORDS if w in set(short["word"])]) * 100
    plots.histogram(out / "durations.png", durations.to_numpy(), np.linspace(0, max(1.05, durations.max()), 43),
                    "clip duration (from WAV headers)", "duration (s)", "clips (log scale)", log_y=True)
    plots.stacked_bars(out / "not_one_second.png", share.round(1).to_frame("share"),
                       "clips that are not exactly 1 s long, per word", "share of the word's clips (%)", "word")
    unreadable = int(words["duration"].isna().sum())
    return [
        (f"Durations: {(~short['other']).mean():.1%} of {len(durations):,} clips are exactly 1 s, the shortest "
         f"{durations.min():.2f} s; the features stage pads the rest with zeros at the end"
         f"{f'; {unreadable} clips unreadable' if unreadable else ''}.", "durations.png"),
        (f"Not exactly 1 s: from {share.min():.1f}% ({share.idxmin()}) to {share.max():.1f}% ({share.idxmax()}) "
         "of a word's clips.", "not_one_second.png"),
    ]


def _clip_figures(out: Path, sample: pd.DataFrame, clips: np.ndarray, config: ExploreConfig, plots) -> list[Item]:
    audio, rate = config.audio, config.audio.sample_rate
    rng = np.random.default_rng(config.seed)
    candidates = np.flatnonzero(sample["label"].isin(COMMANDS) & np.isclose(sample["duration"], 1.0))
    chosen = int(rng.choice(candidates if len(candidates) else np.arange(len(sample))))
    row, clip = sample.iloc[chosen], clips[chosen]
    cepstra = mfcc16k.Mfcc16kConfig(sample_rate=rate, fmax=rate / 2)
    coefficients = mfcc16k.mfcc(clip, cepstra)[0]
    first = mfcc16k.deltas(coefficients, cepstra.delta_width)
    second = mfcc16k.deltas(first, cepstra.delta_width)
    frame_s, mfcc_s = audio.step_ms / 1000, cepstra.step / rate
    rows = (-0.5, cepstra.n_mfcc - 0.5)  # one row per coefficient, centred on its number
    standardised = "z-score per coefficient"
    spectrogram = log_spectrogram(clip, audio)[0]
    plots.sample_clip(out / "sample_clip.png", f"'{row['word']}' by speaker {row['speaker']}", clip, rate, [
        dict(name=f"log-spectrogram at {audio.target_rate / 1000:g} kHz (the CNN's input)", frame_s=frame_s,
             image=spectrogram, ylabel="frequency (Hz)", extent=(0, audio.target_rate / 2), unit="log power"),
        dict(name=f"log-mel spectrogram ({cepstra.n_mels} bands, {cepstra.fmin:g} Hz-{cepstra.fmax / 1000:g} kHz)",
             image=mfcc16k.log_mel(clip, cepstra)[0], frame_s=mfcc_s, ylabel="mel band",
             extent=(-0.5, cepstra.n_mels - 0.5), unit="log energy"),
        # each row standardised over time: c0 (loudness) would otherwise swamp the colour scale
        dict(name=f"MFCC16k 0-{cepstra.n_mfcc - 1}, each standardised over time", image=_standardise(coefficients),
             frame_s=mfcc_s, ylabel="coefficient", extent=rows, unit=standardised, diverging=True),
        dict(name="first deltas of the MFCCs, each standardised", image=_standardise(first), frame_s=mfcc_s,
             ylabel="coefficient", extent=rows, unit=standardised, diverging=True),
        dict(name="second deltas of the MFCCs, each standardised", image=_standardise(second), frame_s=mfcc_s,
             ylabel="coefficient", extent=rows, unit=standardised, diverging=True),
    ])

    commands = [w for w in COMMANDS if (sample["word"] == w).any()]
    spectrograms = {w: log_spectrogram(clips[(sample["word"] == w).to_numpy()], audio).mean(axis=0) for w in commands}
    plots.word_images(out / "mean_spectrograms.png", spectrograms, frame_s, audio.target_rate / 2,
                      "mean log-spectrogram per command word, as the CNN sees it", "mean log power")
    freqs, bands = band_power(clips, rate)
    spectra = {w: decibels(bands[(sample["word"] == w).to_numpy()].mean(axis=0)) for w in commands}
    plots.word_spectra(out / "mean_fft.png", freqs, spectra, f"mean FFT power per command word at {rate / 1000:g} kHz",
                       NOTEBOOK_RATE / 2)

    total = np.maximum(bands.sum(axis=1), 1e-20)
    high, low = bands[:, freqs >= NOTEBOOK_RATE / 2].sum(axis=1) / total, bands[:, freqs < 1000].sum(axis=1) / total
    by_word = pd.Series(high, index=sample["word"]).groupby(level=0).median().sort_values()
    reduced = scipy.signal.resample(clip, dataclasses.replace(audio, target_rate=NOTEBOOK_RATE).target_samples)
    plots.resampling(out / "resampling.png", _spectrum(clip, rate), _spectrum(reduced, NOTEBOOK_RATE),
                     (rate, NOTEBOOK_RATE), f"FFT of '{row['word']}' ({row['path']}) before and after resampling")
    surface = interactive.spectrogram_surface(
        spectrogram, frame_s, audio.target_rate / 2,
        f"log-spectrogram of '{row['word']}' ({row['path']}) at {audio.target_rate / 1000:g} kHz", "sample-surface")
    return [
        (f"One clip, '{row['word']}' ({row['path']}): waveform, the CNN's log-spectrogram, log-mel, MFCCs "
         "and their deltas, on one time axis; below, its log-spectrogram as a surface to turn (drag) and zoom "
         "(scroll), and the clip itself.",
         ["sample_clip.png", surface, Listen(sample.iloc[[chosen]][["path", "word", "speaker"]].set_index("path"),
                                             [wav_bytes(clip, rate)])]),
        ("Mean log-spectrogram per command word: where in time and frequency each word puts its energy; "
         "the dark edges are the padding and silence around the words.", "mean_spectrograms.png"),
        (f"Mean FFT per command word: a median {np.median(low):.0%} of a clip's energy lies below 1 kHz; the "
         f"words differ in the shape of the 1-4 kHz range and in how much they keep above "
         f"{NOTEBOOK_RATE / 2000:g} kHz.", "mean_fft.png"),
        (f"What {NOTEBOOK_RATE / 1000:g} kHz sampling (the notebook recipe's) throws away; the model samples at "
         f"{audio.target_rate / 1000:g} kHz. Above {NOTEBOOK_RATE / 2000:g} kHz lies "
         f"{high[chosen]:.1%} of this clip's energy; "
         f"over the sample a median {np.median(high):.1%} (most for '{by_word.index[-1]}', "
         f"{by_word.iloc[-1]:.1%}; least for '{by_word.index[0]}', {by_word.iloc[0]:.1%}).", "resampling.png"),
    ]


def _standardise(frames: np.ndarray) -> np.ndarray:
    return (frames - frames.mean(axis=0)) / np.maximum(frames.std(axis=0), 1e-9)


def _spectrum(clip: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    db = decibels(np.abs(np.fft.rfft(clip)) ** 2)
    return np.fft.rfftfreq(len(clip), 1 / rate), db - db.max()


def _anomaly_figures(out: Path, sample: pd.DataFrame, clips: np.ndarray, config: ExploreConfig, plots) -> list[Item]:
    from sklearn.decomposition import PCA

    freqs, bands = band_power(clips, config.audio.sample_rate)
    cutoff = NOTEBOOK_RATE / 2
    # Normalised: each clip's share of power per band, so loudness does not count, only shape.
    shapes = decibels(bands / np.maximum(bands.sum(axis=1, keepdims=True), 1e-20))
    components = min(PCA_COMPONENTS, *shapes.shape)
    pca = PCA(n_components=components, random_state=config.seed)
    points = pca.fit_transform(shapes)
    distance = np.linalg.norm(points, axis=1)
    outliers = np.argsort(distance)[::-1][:ANOMALIES]
    above = bands[outliers][:, freqs >= cutoff].sum(axis=1) / np.maximum(bands[outliers].sum(axis=1), 1e-20)
    table = sample.iloc[outliers][["path", "word", "label", "speaker", "duration"]].assign(
        distance=distance[outliers].round(2), pc1=points[outliers, 0].round(2),
        pc2=points[outliers, 1 % components].round(2), share_above_cutoff=above.round(6))
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    with atomic_path(out / "anomalies.csv") as temp:
        table.to_csv(temp, index=False)
    explained = np.pad(pca.explained_variance_ratio_, (0, max(0, 3 - components)))
    padded = np.pad(points, ((0, 0), (0, max(0, 3 - components))))
    labels = sample["label"].to_numpy(str)
    plots.pca_scatter(out / "pca.png", padded, labels, outliers, explained,
                      f"PCA of normalised FFT shapes ({len(sample):,} sampled clips), coloured by label")
    marked = np.zeros(len(sample), bool)
    marked[outliers] = True
    scatter = interactive.label_scatter_3d(
        padded[:, :3], labels, sample[["path", "word", "speaker"]].rename(columns={"path": "file"}), marked,
        marked_name="anomalies", explained=explained, title="PCA of normalised FFT shapes, first 3 components",
        div_id="pca-3d", limit=SCATTER_POINTS, seed=config.seed, order=list(LABELS),
        colours=interactive.hex_colours(plots.label_colours()), faint=(UNKNOWN_LABEL,))
    shown = min(len(sample), SCATTER_POINTS)
    speakers = table["speaker"].value_counts()
    players = Listen(table.set_index("rank").drop(columns=["pc1", "pc2"]),
                     [wav_bytes(clips[i], config.audio.sample_rate) for i in outliers])
    return [
        (f"Anomalies: the {len(table)} clips farthest from the mean spectral shape (distance in the first "
         f"{components} components; circled) are listed in anomalies.csv, worth listening to. "
         f"{int((above < 1e-4).sum())} of them have almost no energy above {cutoff / 1000:g} kHz (band-limited "
         f"recordings), {int((above > 0.1).sum())} more than 10%; speaker {speakers.index[0]} recorded "
         f"{speakers.iloc[0]} of them. Below, the first three components in 3-D ({shown:,} clips; hover a point "
         "for its file, word and speaker; click a label in the legend to hide it).", ["pca.png", scatter]),
        (f"anomalies.csv, each clip with a player (as the pipeline reads it: {config.audio.sample_rate / 1000:g} kHz, "
         "padded to one clip's length):", players),
    ]


def _vad_figures(out: Path, sample: pd.DataFrame, clips: np.ndarray, config: ExploreConfig, plots) -> list[Item]:
    rate = config.audio.sample_rate
    results = [speech_bounds(clip, rate) for clip in tqdm(clips, desc="explore: voice activity", unit="clip")]
    lengths = np.array([b[1] - b[0] for b, _, _ in results if b is not None])
    rng = np.random.default_rng(config.seed + 1)
    shown = np.sort(rng.choice(len(clips), min(VAD_EXAMPLES, len(clips)), replace=False))
    examples = [{"title": f"'{sample['word'].iloc[i]}' ({sample['path'].iloc[i]})", "clip": clips[i],
                 "bounds": results[i][0], "energy_db": results[i][1], "threshold_db": results[i][2]} for i in shown]
    plots.voice_activity(out / "voice_activity.png", examples, rate, VAD_HOP / rate)
    items: list[Item] = [(f"Silence trimming: an energy detector (threshold a third of the way from the noise floor "
                          f"to the peak, in dB; the loud stretch around the peak, gaps under {VAD_MAX_GAP_S:g} s "
                          f"bridged) on {len(shown)} sampled clips; green: where it puts the word.",
                          "voice_activity.png")]
    if len(lengths):
        plots.histogram(out / "word_lengths.png", lengths, np.linspace(0, 1, 41),
                        f"length of the detected word ({len(lengths):,} sampled clips)", "word length (s)", "clips",
                        marks={f"median {np.median(lengths):.2f} s": float(np.median(lengths))})
        items.append((f"Detected word length: median {np.median(lengths):.2f} s, {np.mean(lengths < 0.5):.0%} under "
                      f"0.5 s; no word found in {len(results) - len(lengths)} clips. The rest of each second is "
                      "room for time-shift augmentation.", "word_lengths.png"))
    return items
