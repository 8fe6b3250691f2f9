"""Stage 2, prepare: index every clip, split by speaker, and plan the silence clips."""
from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import PipelineError
from .audio import wav_seconds
from .config import Paths, Settings
from .io_utils import atomic_path
from .labels import BACKGROUND_NOISE_DIR, SILENCE_LABEL, WORDS, word_to_label

log = logging.getLogger(__name__)

TRAIN, VALIDATION, TEST = "train", "validation", "test"
INDEX_COLUMNS = ["path", "word", "label", "speaker", "split", "offset", "gain"]
VALIDATION_PERCENT = 10
TESTING_PERCENT = 10
# The data set assigns clips to sets by a hash of the speaker, over this many buckets.
_MAX_CLIPS_PER_CLASS = 2**27 - 1
# Each split draws its silence from its own stretch of every noise file, so validation
# never hears a noise window that training saw.
_NOISE_TRAIN_FRACTION = 0.8
SILENCE_GAIN_DECADES = (-3.0, 0.0)


def speaker_of(filename: str) -> str:
    """The speaker id: everything before `_nohash_` in the file name."""
    stem = Path(filename).name
    if "_nohash_" not in stem:
        raise PipelineError(f"{filename}: expected a name like <speaker>_nohash_<n>.wav")
    return stem.split("_nohash_")[0]


def hash_split(filename: str) -> str:
    """The data set's own split rule, for when its lists are absent: a stable hash of the speaker.

    Returns "validation", "testing" or "train"; the same speaker always lands in the same set.
    """
    speaker = re.sub(r"_nohash_.*$", "", Path(filename).name)
    digest = int(hashlib.sha1(speaker.encode("utf-8")).hexdigest(), 16)
    percent = (digest % (_MAX_CLIPS_PER_CLASS + 1)) * (100.0 / _MAX_CLIPS_PER_CLASS)
    if percent < VALIDATION_PERCENT:
        return VALIDATION
    if percent < VALIDATION_PERCENT + TESTING_PERCENT:
        return "testing"
    return TRAIN


def index_word_clips(train_audio: Path) -> pd.DataFrame:
    """One row per spoken-word clip, path relative to the extraction folder."""
    rows = []
    strangers = []
    for folder in sorted(p for p in train_audio.iterdir() if p.is_dir()):
        if folder.name == BACKGROUND_NOISE_DIR:
            continue
        if folder.name not in WORDS:
            strangers.append(folder.name)
        label = word_to_label(folder.name)
        for wav in sorted(folder.glob("*.wav")):
            rows.append({
                "path": f"train/audio/{folder.name}/{wav.name}",
                "word": folder.name,
                "label": label,
                "speaker": speaker_of(wav.name),
            })
    if strangers:
        log.warning("word folders outside the 30 competition words, mapped to unknown: %s", ", ".join(strangers))
    if not rows:
        raise PipelineError(f"{train_audio}: expected word folders of <speaker>_nohash_<n>.wav clips, found none")
    return pd.DataFrame(rows)


def assign_splits(clips: pd.DataFrame, validation_list: Path) -> pd.Series:
    """Validation = the data set's held-out speakers; everything else trains."""
    if validation_list.is_file():
        listed = {line.strip() for line in validation_list.read_text().splitlines() if line.strip()}
        in_validation = clips["path"].str.removeprefix("train/audio/").isin(listed)
        log.info("validation split from %s (%d clips listed)", validation_list, len(listed))
    else:
        log.warning("%s is missing: splitting validation by the speaker hash instead", validation_list)
        in_validation = clips["path"].map(hash_split) == VALIDATION
    return pd.Series(np.where(in_validation, VALIDATION, TRAIN), index=clips.index)


def check_speakers_disjoint(index: pd.DataFrame) -> None:
    words = index[index["label"] != SILENCE_LABEL]
    train = set(words.loc[words["split"] == TRAIN, "speaker"])
    validation = set(words.loc[words["split"] == VALIDATION, "speaker"])
    shared = sorted(train & validation)
    if shared:
        raise PipelineError(
            f"{len(shared)} speakers are in both training and validation (e.g. {shared[:5]}); "
            "validation must hold out whole speakers: check validation_list.txt"
        )


def plan_silence(noise_files: list[Path], extract_dir: Path, split: str, count: int,
                 settings: Settings, rng: np.random.Generator) -> pd.DataFrame:
    """Rows that describe silence clips: a random 1 s window of a noise file at a random gain."""
    if count == 0:
        return pd.DataFrame(columns=INDEX_COLUMNS)
    if not noise_files:
        raise PipelineError(
            f"no noise files in {extract_dir / 'train/audio' / BACKGROUND_NOISE_DIR}: "
            "cannot synthesise silence clips (set --silence-share 0 to train without them)"
        )
    audio = settings.audio
    rows = []
    lengths = [int(wav_seconds(f) * audio.sample_rate) for f in noise_files]
    for _ in range(count):
        which = int(rng.integers(len(noise_files)))
        usable = lengths[which] - audio.clip_samples
        boundary = int(usable * _NOISE_TRAIN_FRACTION)
        low, high = (0, boundary) if split == TRAIN else (boundary, usable)
        offset = int(rng.integers(low, max(high, low + 1))) if usable > 0 else 0
        gain = float(10 ** rng.uniform(*SILENCE_GAIN_DECADES))
        rows.append({
            "path": noise_files[which].relative_to(extract_dir).as_posix(),
            "word": SILENCE_LABEL, "label": SILENCE_LABEL, "speaker": "",
            "split": split, "offset": offset, "gain": round(gain, 6),
        })
    return pd.DataFrame(rows)


def index_test_clips(test_audio: Path) -> pd.DataFrame:
    wavs = sorted(test_audio.glob("*.wav"))
    if not wavs:
        raise PipelineError(f"{test_audio}: expected the test clips (*.wav), found none")
    return pd.DataFrame({
        "path": [f"test/audio/{w.name}" for w in wavs],
        "fname": [w.name for w in wavs],
    })


def prepare(paths: Paths, settings: Settings) -> None:
    """Write index.csv (training and validation clips, silence included) and test_index.csv."""
    rng = np.random.default_rng(settings.seed)
    clips = index_word_clips(paths.train_audio_dir)
    clips["split"] = assign_splits(clips, paths.extract_dir / "train" / "validation_list.txt")
    clips["offset"] = 0
    clips["gain"] = 1.0

    noise_files = sorted((paths.train_audio_dir / BACKGROUND_NOISE_DIR).glob("*.wav"))
    parts = [clips]
    for split in (TRAIN, VALIDATION):
        n_words = int((clips["split"] == split).sum())
        count = int(round(n_words * settings.silence_share / (1.0 - settings.silence_share)))
        parts.append(plan_silence(noise_files, paths.extract_dir, split, count, settings, rng))
    index = pd.concat(parts, ignore_index=True)[INDEX_COLUMNS]
    check_speakers_disjoint(index)
    if (index["split"] == VALIDATION).sum() == 0:
        raise PipelineError("the validation split is empty: check validation_list.txt against train/audio")

    with atomic_path(paths.index_csv) as temp:
        index.to_csv(temp, index=False)
    with atomic_path(paths.prepare_dir / "test_index.csv") as temp:
        index_test_clips(paths.test_audio_dir).to_csv(temp, index=False)
    counts = index.groupby(["split", "label"]).size().unstack(0).fillna(0).astype(int)
    log.info("clips per label and split:\n%s", counts.to_string())
