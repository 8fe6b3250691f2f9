"""An experiment: kaggle-mini's training archive with words spoken by espeak-ng added as unknown words.

    python benchmarks/synthetic_unknowns.py --input-dir ../shared/kaggle-mini --output working/tts-input

Writes OUTPUT/train.7z (the original clips, plus one folder per synthetic word: one-second 16 kHz clips,
the word's voiced part centred, at -20 to -6 dBFS peak over a slice of a background-noise file at -60 to
-45 dBFS) and links the other archives. The clips are not in validation_list.txt or testing_list.txt, so
they all train; folders outside the 30 words are mapped to unknown by prepare. Voices are espeak-ng's,
none of those `streams.py negatives --kind synth` speaks. Seeded: the same seed writes the same clips.
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

VOICES = ("en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us+f1", "en-us+m3", "en-gb+f2", "en-gb+m5", "en-029+f5",
          "en-gb-x-gbclan+f3")
WORDS = ("apple", "table", "water", "paper", "window", "garden", "yellow", "purple", "orange", "music",
         "coffee", "number", "letter", "money", "mother", "father", "sister", "brother", "people", "little",
         "bottle", "kitchen", "doctor", "pencil", "monkey", "rabbit", "turtle", "tiger", "lemon", "butter",
         "candle", "silver", "winter", "summer", "autumn", "spring", "river", "mountain", "forest", "island",
         "bridge", "station", "market", "school", "teacher", "student", "country", "city", "village", "street",
         "morning", "evening", "night", "today", "tomorrow", "sugar", "salt", "pepper", "bread", "cheese",
         "chicken", "fish", "horse", "sheep", "mouse", "bear", "lion", "zebra", "camel", "snake",
         "chair", "sofa", "lamp", "clock", "phone", "camera", "computer", "button", "pocket", "jacket",
         "shirt", "shoe", "hat", "glove", "ring", "watch", "basket", "box", "bag", "key",
         "king", "queen", "prince", "castle", "dragon", "magic", "story", "picture", "color", "circle",
         "square", "triangle", "happy", "sad", "angry", "quiet", "loud", "soft", "hard", "warm",
         "cold", "fast", "slow", "early", "late", "maybe", "please", "thanks", "hello", "never",
         "always", "seldom", "about", "because", "through")
RATE = 16_000


def speak(word: str, voice: str, speed: int) -> np.ndarray:
    from competition.streaming import build

    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "w.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), word], check=True,
                       capture_output=True)
        return build.voiced(build.read_mono(wav))


def main() -> int:
    import py7zr
    import soundfile

    from competition.streaming import build

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input-dir", type=Path, required=True, help="a competition folder (train.7z, ...)")
    parser.add_argument("--output", type=Path, required=True, help="the new competition folder")
    parser.add_argument("--seed", type=int, default=0, help="draws levels, speeds and noise (default: 0)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    args.output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.output) as folder:
        root = Path(folder)
        with py7zr.SevenZipFile(args.input_dir / "train.7z") as archive:
            archive.extractall(root)
        audio = root / "train" / "audio"
        noises = build.load_noises(audio / "_background_noise_")
        words = [w for w in WORDS if w not in ("happy",)]  # a held-out validation word of the default
        count = 0
        for word in words:
            (audio / word).mkdir()
            for number, voice in enumerate(VOICES):
                speech = speak(word, voice, int(rng.integers(130, 200)))[:RATE]
                speech = speech / max(np.abs(speech).max(), 1e-6) * 10 ** (rng.uniform(-20, -6) / 20)
                noise = noises[rng.integers(len(noises))]
                start = rng.integers(0, len(noise) - RATE)
                clip = noise[start:start + RATE] / max(np.sqrt(np.mean(noise ** 2)), 1e-9) * 10 ** (
                    rng.uniform(-60, -45) / 20)
                at = (RATE - len(speech)) // 2
                clip[at:at + len(speech)] += speech
                soundfile.write(audio / word / f"tts{number}_nohash_0.wav", np.clip(clip, -1, 1), RATE,
                                subtype="PCM_16")
                count += 1
        with py7zr.SevenZipFile(args.output / "train.7z", "w", filters=[{"id": py7zr.FILTER_COPY}]) as archive:
            archive.writeall(root / "train", "train")
    for name in ("test.7z", "sample_submission.7z"):
        link = args.output / name
        if not link.exists():
            link.symlink_to((args.input_dir / name).resolve())
    print(f"{args.output / 'train.7z'}: the original clips and {count} synthetic ones of {len(words)} words")
    return 0


if __name__ == "__main__":
    sys.exit(main())
