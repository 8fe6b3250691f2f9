"""An experiment: kaggle-mini's training archive with synthetic speakers saying every kind of word.

    python benchmarks/synthetic_speakers.py --input-dir input/ --output working/tts-all-input

Synthetic words as `unknown` alone taught the network that a synthesiser's sound means `unknown`
(docs/experiments.md). Here thirteen synthetic voices (eight of espeak-ng, none of those `streams.py
negatives --kind synth` speaks, and flite's five) say the ten commands as well, labelled as the commands,
so a synthetic voice is no cue for `unknown` and only the word is: each command 104 times (every voice,
eight draws of speed and pitch), each of 139 other words (everyday words, and the sixteen auxiliary
words that train; never a held-out validation word) by eight of the voices. Each clip is one second at
16 kHz, the word's voiced part centred at -20 to -6 dBFS peak over a slice of a background-noise file at
-60 to -45 dBFS. Writes OUTPUT/train.7z (the original clips plus these, in neither list, so all of them
train; folders outside the 30 words are mapped to `unknown` by prepare) and links the other archives.
Seeded: the same seed writes the same clips. Needs `apt-get install espeak-ng flite`.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ESPEAK_VOICES = ("en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us+f1", "en-us+m3", "en-gb+f2", "en-gb+m5",
                 "en-029+f5", "en-us-nyc+f4")
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
VOICES = tuple(("espeak-ng", v) for v in ESPEAK_VOICES) + tuple(("flite", v) for v in FLITE_VOICES)
COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
TRAINING_AUXILIARY = ("bed", "bird", "cat", "eight", "five", "four", "house", "marvin", "nine", "one", "seven",
                      "sheila", "six", "three", "two", "zero")
EVERYDAY = ("apple", "table", "water", "paper", "window", "garden", "yellow", "purple", "orange", "music",
            "coffee", "number", "letter", "money", "mother", "father", "sister", "brother", "people", "little",
            "bottle", "kitchen", "doctor", "pencil", "monkey", "rabbit", "turtle", "tiger", "lemon", "butter",
            "candle", "silver", "winter", "summer", "autumn", "spring", "river", "mountain", "forest", "island",
            "bridge", "station", "market", "school", "teacher", "student", "country", "city", "village", "street",
            "morning", "evening", "night", "today", "tomorrow", "sugar", "salt", "pepper", "bread", "cheese",
            "chicken", "fish", "horse", "sheep", "mouse", "bear", "lion", "zebra", "camel", "snake",
            "chair", "sofa", "lamp", "clock", "phone", "camera", "computer", "button", "pocket", "jacket",
            "shirt", "shoe", "hat", "glove", "ring", "watch", "basket", "box", "bag", "key",
            "king", "queen", "prince", "castle", "dragon", "magic", "story", "picture", "color", "circle",
            "square", "triangle", "sad", "angry", "quiet", "loud", "soft", "hard", "warm",
            "cold", "fast", "slow", "early", "late", "maybe", "please", "thanks", "hello", "never",
            "always", "seldom", "about", "because", "through")
COMMAND_DRAWS = 8      # speed and pitch draws per command and voice
VOICES_PER_WORD = 8    # voices per other word
RATE = 16_000


def speak(word: str, engine: str, voice: str, rng: np.random.Generator) -> np.ndarray:
    from competition.streaming import build

    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "w.wav"
        if engine == "espeak-ng":
            command = ["espeak-ng", "-v", voice, "-s", str(int(rng.integers(120, 200))),
                       "-p", str(int(rng.integers(25, 75))), "-w", str(wav), word]
        else:
            command = ["flite", "-voice", voice, "--setf", f"duration_stretch={rng.uniform(0.8, 1.25):.2f}",
                       "--setf", f"int_f0_target_mean={rng.uniform(90, 180):.0f}", "-t", word, "-o", str(wav)]
        subprocess.run(command, check=True, capture_output=True)
        return build.voiced(build.read_mono(wav))[:RATE]


def clip_of(speech: np.ndarray, noises: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    speech = speech / max(np.abs(speech).max(), 1e-6) * 10 ** (rng.uniform(-20, -6) / 20)
    noise = noises[rng.integers(len(noises))]
    start = rng.integers(0, len(noise) - RATE)
    clip = noise[start:start + RATE] / max(np.sqrt(np.mean(noise ** 2)), 1e-9) * 10 ** (rng.uniform(-60, -45) / 20)
    at = (RATE - len(speech)) // 2
    clip[at:at + len(speech)] += speech
    return np.clip(clip, -1, 1)


def main() -> int:
    import py7zr
    import soundfile
    from tqdm import tqdm

    from competition.streaming import build

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input-dir", type=Path, required=True, help="a competition folder (train.7z, ...)")
    parser.add_argument("--output", type=Path, required=True, help="the new competition folder")
    parser.add_argument("--seed", type=int, default=0, help="draws voices, levels, speeds and noise (default: 0)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    jobs = [(word, voice, f"tts{v}d{d}") for word in COMMANDS for v, voice in enumerate(VOICES)
            for d in range(COMMAND_DRAWS)]
    for word in TRAINING_AUXILIARY + EVERYDAY:
        for v in sorted(rng.choice(len(VOICES), VOICES_PER_WORD, replace=False)):
            jobs.append((word, VOICES[v], f"tts{v}d0"))
    args.output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.output) as folder:
        root = Path(folder)
        with py7zr.SevenZipFile(args.input_dir / "train.7z") as archive:
            archive.extractall(root)
        audio = root / "train" / "audio"
        noises = build.load_noises(audio / "_background_noise_")
        for word, (engine, voice), speaker in tqdm(jobs, desc="synthetic clips", unit="clip"):
            (audio / word).mkdir(exist_ok=True)
            clip = clip_of(speak(word, engine, voice, rng), noises, rng)
            soundfile.write(audio / word / f"{speaker}_nohash_0.wav", clip, RATE, subtype="PCM_16")
        with py7zr.SevenZipFile(args.output / "train.7z", "w", filters=[{"id": py7zr.FILTER_COPY}]) as archive:
            archive.writeall(root / "train", "train")
    for name in ("test.7z", "sample_submission.7z"):
        link = args.output / name
        if not link.exists():
            link.symlink_to((args.input_dir / name).resolve())
    commands = len(COMMANDS) * len(VOICES) * COMMAND_DRAWS
    print(f"{args.output / 'train.7z'}: the original clips, {commands} synthetic commands and "
          f"{len(jobs) - commands} synthetic other words")
    return 0


if __name__ == "__main__":
    sys.exit(main())
