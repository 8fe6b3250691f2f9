"""A small synthetic competition in the exact Kaggle layout, deterministic from a seed.

Each word is a sequence of three tones with harmonics; speakers shift its pitch, speed,
onset and loudness, and every clip carries a little noise. Different enough for a small
CNN to learn in a few epochs, varied enough that held-out speakers are a real test.
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import py7zr
import scipy.io.wavfile
import scipy.signal

from ..core.io import atomic_path
from ..core.labels import BACKGROUND_NOISE_DIR, COMMANDS, SILENCE_LABEL, WORDS, word_to_label

log = logging.getLogger(__name__)

RATE = 16_000
UNSEEN_WORDS = ("learn", "follow", "forward", "backward", "visual")
NOISE_FILES = ("doing_the_dishes", "dude_miaowing", "exercise_bike", "pink_noise", "running_tap", "white_noise")
DEMO_MARKER = "demo_solution.csv"


def _speaker_ids(rng: np.random.Generator, count: int) -> list[str]:
    return [f"{int(v):08x}" for v in rng.integers(0, 2**32, size=count)]


def _word_signatures(rng: np.random.Generator) -> dict[str, np.ndarray]:
    words = WORDS + UNSEEN_WORDS
    return {word: np.exp(rng.uniform(np.log(250), np.log(2500), size=3)) for word in words}


def _utter(signature: np.ndarray, rng: np.random.Generator, pitch: float) -> np.ndarray:
    duration = rng.uniform(0.45, 0.75)
    onset = rng.uniform(0.0, 1.0 - duration)
    t = np.arange(int(duration * RATE)) / RATE
    segment = len(t) // len(signature)
    # Piecewise-constant frequency, integrated to a phase so the joins do not click.
    frequency = np.repeat(signature * pitch, segment)
    frequency = np.pad(frequency, (0, len(t) - len(frequency)), mode="edge")
    phase = 2 * np.pi * np.cumsum(frequency) / RATE
    voice = np.sin(phase) + 0.4 * np.sin(2 * phase) + 0.2 * np.sin(3 * phase)
    voice *= np.hanning(len(t)) * rng.uniform(0.2, 0.8)
    clip = rng.normal(0, 0.01, RATE)
    start = int(onset * RATE)
    clip[start:start + len(voice)] += voice
    return clip


def _noise(name: str, rng: np.random.Generator, seconds: float = 20.0) -> np.ndarray:
    white = rng.normal(0, 1, int(seconds * RATE))
    if name == "white_noise":
        shaped = white
    elif name == "pink_noise":
        shaped = scipy.signal.lfilter([0.049922, -0.095993, 0.050612, -0.004408],
                                      [1, -2.494956, 2.017265, -0.522189], white)
    else:
        low, high = sorted(rng.uniform(100, 3500, size=2))
        shaped = scipy.signal.sosfilt(scipy.signal.butter(4, [low, high + 200], "bandpass", fs=RATE, output="sos"),
                                      white)
    return 0.3 * shaped / np.abs(shaped).max()


def _write_wav(path: Path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.wavfile.write(path, RATE, (np.clip(samples, -1, 1) * 32767).astype(np.int16))


def make_demo_competition(target: Path, seed: int, n_speakers: int = 30, n_test: int = 360,
                          n_occasional: int = 0) -> None:
    """Write train.7z, test.7z, sample_submission.7z and demo_solution.csv into `target`.
    `n_occasional` more speakers say only a few words each, as most speakers of the real data do
    (the speakers task verifies on them); they draw from their own generator, so the rest of the
    competition is the same with or without them."""
    rng = np.random.default_rng(seed)
    signatures = _word_signatures(rng)
    speakers = _speaker_ids(rng, n_speakers)
    pitch = {s: rng.uniform(0.9, 1.1) for s in speakers}
    validation_speakers, testing_speakers = speakers[:4], speakers[4:6]
    target.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        audio = root / "train" / "audio"
        validation, testing = [], []
        for word in WORDS:
            for speaker in speakers:
                # Commands are recorded more often than auxiliary words, as in the real data.
                takes = 2 if word in COMMANDS else 1
                for take in range(takes):
                    name = f"{word}/{speaker}_nohash_{take}.wav"
                    _write_wav(audio / name, _utter(signatures[word], rng, pitch[speaker]))
                    if speaker in validation_speakers:
                        validation.append(name)
                    elif speaker in testing_speakers:
                        testing.append(name)
        occasional = np.random.default_rng([seed, 1])
        for speaker in _speaker_ids(occasional, n_occasional):
            speaker_pitch = occasional.uniform(0.9, 1.1)
            for word in occasional.choice(COMMANDS, size=int(occasional.integers(2, 6)), replace=False):
                clip = _utter(signatures[word], occasional, speaker_pitch)
                _write_wav(audio / f"{word}/{speaker}_nohash_0.wav", clip)
        for name in NOISE_FILES:
            _write_wav(audio / BACKGROUND_NOISE_DIR / f"{name}.wav", _noise(name, rng))
        (root / "train" / "validation_list.txt").write_text("".join(f"{n}\n" for n in validation))
        (root / "train" / "testing_list.txt").write_text("".join(f"{n}\n" for n in testing))

        rows = []
        test_words = list(COMMANDS) * 2 + list(WORDS[len(COMMANDS):]) [::4] + list(UNSEEN_WORDS) + [SILENCE_LABEL] * 3
        for i in range(n_test):
            word = test_words[i % len(test_words)]
            fname = f"clip_{int(rng.integers(0, 2**36)):09x}.wav"
            if word == SILENCE_LABEL:
                noise = _noise(str(rng.choice(NOISE_FILES)), rng, seconds=1.0)
                clip, label = noise * 10 ** rng.uniform(-3, 0), SILENCE_LABEL
            else:
                speaker_pitch = rng.uniform(0.9, 1.1)
                clip, label = _utter(signatures[word], rng, speaker_pitch), word_to_label(word)
            _write_wav(root / "test" / "audio" / fname, clip)
            rows.append((fname, label))
        solution = pd.DataFrame(rows, columns=["fname", "label"]).sort_values("fname")
        solution.assign(label=SILENCE_LABEL).to_csv(root / "sample_submission.csv", index=False)

        for archive, member in (("train.7z", "train"), ("test.7z", "test"),
                                ("sample_submission.7z", "sample_submission.csv")):
            with atomic_path(target / archive) as temp:
                with py7zr.SevenZipFile(temp, "w") as zf:
                    zf.writeall(root / member, arcname=member)
        with atomic_path(target / DEMO_MARKER) as temp:
            solution.assign(Usage="Private").to_csv(temp, index=False)
    log.info("wrote a synthetic competition (%d speakers, %d test clips) to %s", n_speakers, n_test, target)
