"""Streams built from labelled clips, for measuring a listener: commands over a noise bed, and
negative streams in which no command is said.

`make_stream` lays clips of a solution file (`fname,label`) one after another at seeded random
onsets over a bed of the noise files; `negative_stream` draws from one split of a prepare index
(the validation split: speakers the model never trained on): `words`, the split's auxiliary words
(never one of the ten commands) with short pauses; `talk`, "sentences" of two to six of them and
pieces of them, crossfaded with no pause; `noise`, bursts of the noise files (the split's own
stretch of each). Each returns 16 kHz samples and a table of what was laid where; the same seed
gives the same samples. No TensorFlow.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from .. import PipelineError
from ..core.labels import AUXILIARY_WORDS, BACKGROUND_NOISE_DIR

log = logging.getLogger(__name__)

RATE = 16_000
NEGATIVE_COLUMNS = ["time_s", "label", "source"]


def validation_solution(index: Path, split: str) -> pd.DataFrame:
    """`fname,label` of the recorded clips of one split of a prepare index (its planned silence
    windows are not files of their own, so they are left out)."""
    table = pd.read_csv(index, keep_default_na=False)
    rows = table[(table["split"] == split) & (table["kind"] == "clip")]
    if rows.empty:
        raise PipelineError(f"{index}: no recorded clips in split {split!r}")
    return rows[["path", "label"]].rename(columns={"path": "fname"}).reset_index(drop=True)


# --- the generator ------------------------------------------------------------------------------

def read_mono(path: Path, rate: int = RATE) -> np.ndarray:
    from ..frontend.audio import read_wav

    source_rate, samples = read_wav(path)
    if source_rate != rate:
        import scipy.signal

        divisor = math.gcd(source_rate, rate)
        samples = scipy.signal.resample_poly(samples, rate // divisor, source_rate // divisor).astype(np.float32)
    return samples


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) or 1e-12


def noise_bed(noises: list[np.ndarray], length: int, level_rms: float, rng: np.random.Generator) -> np.ndarray:
    """Stretches of 5 to 20 s of random noise files at random starts, each at `level_rms`,
    joined with 20 ms ramps so the joins do not click."""
    bed = np.zeros(length, np.float32)
    ramp = int(0.02 * RATE)
    at = 0
    while at < length:
        noise = noises[rng.integers(len(noises))]
        size = min(int(rng.uniform(5, 20) * RATE), len(noise), length - at)
        start = int(rng.integers(0, len(noise) - size + 1))
        piece = noise[start:start + size] * np.float32(level_rms / rms(noise[start:start + size]))
        if size > 2 * ramp:
            envelope = np.ones(size, np.float32)
            envelope[:ramp] = np.linspace(0, 1, ramp)
            envelope[-ramp:] = np.linspace(1, 0, ramp)
            piece = piece * envelope
        bed[at:at + size] = piece
        at += size
    return bed


def load_noises(noise_folder: Path) -> list[np.ndarray]:
    from ..frontend.audio import audio_files

    noise_files = audio_files(noise_folder)
    if not noise_files:
        raise PipelineError(f"{noise_folder}: no noise recordings (.wav, .flac, .ogg); expected background noise")
    return [read_mono(path) for path in noise_files]


def place(stream: np.ndarray, events: Iterator[tuple], gap: tuple[float, float], rng: np.random.Generator) -> list:
    """Add the events' clips (each `(clip, *fields)`) to `stream` one after another, each onset on a
    whole millisecond (so the labels' times are exact) after a pause uniform in `gap` seconds, until
    the next would not fit with the shortest pause after it. Returns `(onset_s, *fields)` per clip."""
    ms = RATE // 1000

    def gap_samples() -> int:
        return int(rng.uniform(*gap) * 1000) * ms

    placed = []
    at = gap_samples()
    for clip, *fields in events:
        if at + len(clip) + int(gap[0] * RATE) > len(stream):
            break
        stream[at:at + len(clip)] += clip
        placed.append((at // ms / 1000, *fields))
        at += -(-len(clip) // ms) * ms + gap_samples()
    return placed


def burst(noises: list[np.ndarray], seconds: float, noise_dbfs: float, rng: np.random.Generator) -> tuple:
    """(samples, index of the file): a stretch of a noise file from the bed's level up to -20 dBFS (or
    20 dB over the bed where that is louder): a tap, a door."""
    which = int(rng.integers(len(noises)))
    noise = noises[which]
    size = min(int(seconds * RATE), len(noise))
    start = int(rng.integers(0, len(noise) - size + 1))
    piece = noise[start:start + size]
    loudness = 10 ** (rng.uniform(noise_dbfs, max(noise_dbfs + 20, -20.0)) / 20)
    return piece * np.float32(loudness / rms(piece)), which


def make_stream(solution: pd.DataFrame, clips: Path, noise_folder: Path, minutes: float, seed: int,
                noise_dbfs: float = -50.0, gap: tuple[float, float] = (0.5, 2.5),
                silence_share: float = 0.1) -> tuple[np.ndarray, pd.DataFrame]:
    """(samples at 16 kHz, labels `time_s,label`), both fixed by the seed."""
    rng = np.random.default_rng(seed)
    length = int(round(minutes * 60 * RATE))
    noises = load_noises(noise_folder)
    stream = noise_bed(noises, length, 10 ** (noise_dbfs / 20), rng)
    rows = solution.iloc[rng.permutation(len(solution))].itertuples(index=False)
    bursts = silence_share if not (solution["label"] == "silence").any() else 0.0

    def events() -> Iterator[tuple[np.ndarray, str]]:
        while True:
            if rng.random() < bursts:
                yield burst(noises, 1.0, noise_dbfs, rng)[0], "silence"
                continue
            row = next(rows, None)
            if row is None:
                log.warning("the %d clips ran out", len(solution))
                return
            yield read_mono(clips / row.fname), row.label

    placed = place(stream, events(), gap, rng)
    np.clip(stream, -1.0, 1.0, out=stream)
    return stream, pd.DataFrame(placed, columns=["time_s", "label"])


def write_stream(path: Path, samples: np.ndarray, labels: pd.DataFrame, rate: int = RATE, channels: int = 1) -> Path:
    """The WAV (16-bit PCM, at `rate`, `channels` copies of the signal) and `<stem>.labels.csv` beside it,
    each written whole or not at all (the labels first: a WAV is never there without them)."""
    import soundfile

    from ..core.io import atomic_path

    if rate != RATE:
        import scipy.signal

        divisor = math.gcd(rate, RATE)
        samples = scipy.signal.resample_poly(samples, rate // divisor, RATE // divisor).astype(np.float32)
    data = np.repeat(samples[:, None], channels, axis=1) if channels > 1 else samples
    labels_path = path.with_name(path.stem + ".labels.csv")
    with atomic_path(labels_path) as temp:
        labels.to_csv(temp, index=False, float_format="%.3f")
    with atomic_path(path) as temp:
        soundfile.write(temp, data, rate, subtype="PCM_16", format="WAV")
    return labels_path




def auxiliary_clips(index: Path, split: str) -> pd.DataFrame:
    """`path,word,speaker` of the recorded clips of the auxiliary words (never a command) in one split."""
    table = pd.read_csv(index, keep_default_na=False)
    rows = table[(table["split"] == split) & (table["kind"] == "clip") & table["word"].isin(AUXILIARY_WORDS)]
    if rows.empty:
        raise PipelineError(f"{index}: no recorded clips of auxiliary words ({', '.join(AUXILIARY_WORDS[:3])}, "
                         f"...) in split {split!r}")
    return rows[["path", "word", "speaker"]].reset_index(drop=True)


def split_noises(noises: list[np.ndarray], split: str) -> list[np.ndarray]:
    """Each noise file's stretch that `split` draws its silence from (prepare's rule)."""
    from ..data.prepare import noise_window_starts

    stretches = []
    for noise in noises:
        low, high = noise_window_starts(len(noise) - RATE, split)
        stretches.append(noise[low:high + RATE])
    return stretches


def voiced(clip: np.ndarray, floor_db: float = 30.0, frame: int = RATE // 100) -> np.ndarray:
    """The clip from its first to its last 10 ms frame within `floor_db` of its loudest: the word
    without the recording's silence around it."""
    frames = len(clip) // frame
    if frames < 2:
        return clip
    energy = np.square(clip[:frames * frame].reshape(frames, frame), dtype=np.float64).mean(axis=1)
    loud = np.flatnonzero(energy >= energy.max() * 10 ** (-floor_db / 10))
    return clip[loud[0] * frame:(loud[-1] + 1) * frame]


def crossfade(pieces: list[np.ndarray], overlap: int = RATE // 50) -> np.ndarray:
    """The pieces joined with no pause, each fading into the next over `overlap` samples (20 ms)."""
    out = pieces[0]
    for piece in pieces[1:]:
        fade = min(overlap, len(out), len(piece))
        ramp = np.linspace(0, 1, fade, dtype=np.float32)
        out = np.concatenate([out[:len(out) - fade], out[len(out) - fade:] * (1 - ramp) + piece[:fade] * ramp,
                              piece[fade:]])
    return out


def speech_events(kind: str, clips: pd.DataFrame, extract: Path, rng: np.random.Generator,
                   fragment_share: float = 0.4) -> Iterator[tuple[np.ndarray, str, str]]:
    """`words`: one voiced clip at a time, at its recorded level. `talk`: two to six of them, a share
    cut to a piece (30 to 70 % of the word, from anywhere in it), brought to the first one's level and
    crossfaded into one "sentence". The clips are drawn in a seeded order, reshuffled when used up."""
    cache: dict[str, np.ndarray] = {}

    def clip_at(row) -> np.ndarray:
        if row.path not in cache:
            cache[row.path] = voiced(read_mono(extract / row.path))
        return cache[row.path]

    def draws() -> Iterator:
        while True:
            yield from clips.iloc[rng.permutation(len(clips))].itertuples(index=False)

    rows = draws()
    while True:
        if kind == "words":
            row = next(rows)
            yield clip_at(row), "unknown", row.path
            continue
        pieces, names = [], []
        for _ in range(int(rng.integers(2, 7))):
            row = next(rows)
            word = clip_at(row)
            if rng.random() < fragment_share and len(word) > RATE // 10:
                share = rng.uniform(0.3, 0.7)
                size = max(RATE // 20, int(share * len(word)))
                start = int(rng.integers(0, len(word) - size + 1))
                word, name = word[start:start + size], f"{row.path}[{start / RATE:.3f}:{(start + size) / RATE:.3f}]"
            else:
                name = row.path
            if pieces:
                word = word * np.float32(rms(pieces[0]) / rms(word))
            pieces.append(word)
            names.append(name)
        yield crossfade(pieces), "unknown", " + ".join(names)


def noise_events(noises: list[np.ndarray], names: list[str], noise_dbfs: float,
                  rng: np.random.Generator) -> Iterator[tuple[np.ndarray, str, str]]:
    """Bursts of one to five seconds of the noise files, from the bed's level up to -20 dBFS."""
    while True:
        samples, which = burst(noises, rng.uniform(1, 5), noise_dbfs, rng)
        yield samples, "silence", names[which]


# the pause before each event, in seconds (uniform): words said one by one, sentences, noises
NEGATIVE_GAPS = {"words": (0.15, 0.8), "talk": (0.3, 1.2), "noise": (0.5, 3.0)}
NEGATIVE_KINDS = tuple(NEGATIVE_GAPS)
# what a kind of speech built elsewhere (spoken by a synthesiser, say) hands negative_stream: seeded events
Events = Callable[[np.random.Generator], Iterator[tuple[np.ndarray, str, str]]]


def negative_stream(kind: str, index: Path, extract: Path, split: str, minutes: float, seed: int,
                    noise_dbfs: float = -50.0, noise_folder: Path | None = None,
                    events: Events | None = None, gap: tuple[float, float] | None = None,
                    ) -> tuple[np.ndarray, pd.DataFrame]:
    """(samples at 16 kHz, labels `time_s,label,source`) of a stream of `kind` in which no command is
    said, drawn from `split` of the prepare index `index` (clips under `extract`) over a noise bed of
    that split's stretch of the noise files, all fixed by the seed. Another kind brings its own
    `events` and `gap`."""
    if events is None and kind not in NEGATIVE_KINDS:
        raise PipelineError(f"a negative stream of kind {kind!r}; expected one of {', '.join(NEGATIVE_KINDS)}")
    from ..frontend.audio import audio_files

    rng = np.random.default_rng(seed)
    noise_folder = noise_folder or extract / "train" / "audio" / BACKGROUND_NOISE_DIR
    noises = split_noises(load_noises(noise_folder), split)
    stream = noise_bed(noises, int(round(minutes * 60 * RATE)), 10 ** (noise_dbfs / 20), rng)
    if events is not None:
        laid = events(rng)
    elif kind == "noise":
        laid = noise_events(noises, [path.name for path in audio_files(noise_folder)], noise_dbfs, rng)
    else:
        laid = speech_events(kind, auxiliary_clips(index, split), extract, rng)
    placed = place(stream, laid, gap or NEGATIVE_GAPS[kind], rng)
    np.clip(stream, -1.0, 1.0, out=stream)
    return stream, pd.DataFrame(placed, columns=NEGATIVE_COLUMNS)
