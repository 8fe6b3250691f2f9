"""Stage 2, prepare: index every clip, split by speaker, and plan the silence clips."""
from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .. import PipelineError
from ..core.config import PrepareConfig
from ..core.io import atomic_path
from ..core.labels import BACKGROUND_NOISE_DIR, SILENCE_LABEL, UNKNOWN_LABEL, WORDS
from ..core.paths import Paths
from ..frontend.audio import audio_files, load_clip, rms, wav_seconds
from ..tasks import HELD_OUT_CLIPS, Task, get_task

log = logging.getLogger(__name__)

TRAIN, VALIDATION, TEST = "train", "validation", "test"
NOISE, UNUSED = "noise", "unused"
UNSEEN = "unseen"  # speakers a task that classifies speakers never trains on: they score verification
INDEX_COLUMNS = ["path", "word", "label", "speaker", "split", "offset", "gain", "kind"]
# kind: how the features stage turns a row into a clip.
CLIP, NOISE_WINDOW, ROOM_TONE = "clip", "noise-window", "room-tone"
ROOM_TONE_GAIN_DECADES = (-0.3, 0.3)
VALIDATION_PERCENT = 10
TESTING_PERCENT = 10
# The data set assigns clips to sets by a hash of the speaker, over this many buckets.
_MAX_CLIPS_PER_CLASS = 2**27 - 1
# Each split draws its silence from its own stretch of every noise file, so validation
# never hears a noise window that training saw.
_NOISE_TRAIN_FRACTION = 0.8
_QUIETEST_WINDOW_RMS = 1e-6


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


def index_word_clips(train_audio: Path, task: Task) -> pd.DataFrame:
    """One row per spoken-word clip, path relative to the extraction folder."""
    rows = []
    strangers = []
    for folder in sorted(p for p in train_audio.iterdir() if p.is_dir()):
        if folder.name == BACKGROUND_NOISE_DIR:
            continue
        if folder.name not in WORDS:
            strangers.append(folder.name)
        for wav in audio_files(folder):
            speaker = speaker_of(wav.name)
            rows.append({
                "path": f"train/audio/{folder.name}/{wav.name}",
                "word": folder.name,
                "label": task.label_of(folder.name, speaker),
                "speaker": speaker,
            })
    if strangers:
        log.warning("word folders outside the 30 competition words, mapped to unknown: %s", ", ".join(strangers))
    if not rows:
        raise PipelineError(f"{train_audio}: expected word folders of <speaker>_nohash_<n>.wav clips, found none")
    return pd.DataFrame(rows)


def _listed(extract_dir: Path, name: str) -> set[str] | None:
    path = extract_dir / "train" / name
    if not path.is_file():
        return None
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def _stable_fraction(speaker: str) -> float:
    """A number in [0, 1) fixed by the speaker id alone, independent of the seed."""
    return int(hashlib.sha1(f"extra-validation:{speaker}".encode()).hexdigest(), 16) % 10_000 / 10_000


def assign_splits(clips: pd.DataFrame, extract_dir: Path, extra_validation_share: float = 0.0) -> pd.Series:
    """Validation = the data set's held-out speakers, plus a stable share of its testing speakers."""
    relative = clips["path"].str.removeprefix("train/audio/")
    validation_list, testing_list = (_listed(extract_dir, "validation_list.txt"),
                                     _listed(extract_dir, "testing_list.txt"))
    if validation_list is not None:
        in_validation = relative.isin(validation_list)
        in_testing = relative.isin(testing_list or set())
        log.info("validation split from validation_list.txt (%d clips listed)", len(validation_list))
    else:
        log.warning("%s is missing: splitting validation by the speaker hash instead",
                    extract_dir / "train" / "validation_list.txt")
        sets = clips["path"].map(hash_split)
        in_validation, in_testing = sets == VALIDATION, sets == "testing"
    extra = in_testing & (clips["speaker"].map(_stable_fraction) < extra_validation_share)
    return pd.Series(np.where(in_validation | extra, VALIDATION, TRAIN), index=clips.index)


def speaker_split(clips: pd.DataFrame, config: PrepareConfig, rng: np.random.Generator) -> pd.Series:
    """For a task whose classes are the speakers: each speaker with at least
    --min-clips-per-speaker clips gives a seeded share of them to validation and the rest to
    training; every other speaker's clips are UNSEEN, never trained on."""
    split = pd.Series(UNSEEN, index=clips.index, dtype=object)
    for _, rows in sorted(clips.groupby("speaker").indices.items()):  # sorted: draws in a fixed order
        if len(rows) < config.min_clips_per_speaker:
            continue
        held = min(max(1, round(config.speaker_validation_share * len(rows))), len(rows) - 1)
        split.iloc[rows] = TRAIN
        split.iloc[rng.choice(rows, held, replace=False)] = VALIDATION
    return split


def check_speakers_trained(index: pd.DataFrame) -> None:
    """Every validation speaker is a class seen in training; no unseen speaker is."""
    by_split = {name: set(index.loc[index["split"] == name, "speaker"]) for name in (TRAIN, VALIDATION, UNSEEN)}
    if untrained := sorted(by_split[VALIDATION] - by_split[TRAIN]):
        raise PipelineError(f"{len(untrained)} validation speakers have no training clips (e.g. {untrained[:5]})")
    if trained := sorted(by_split[UNSEEN] & by_split[TRAIN]):
        raise PipelineError(f"{len(trained)} speakers kept for verification are also trained on (e.g. {trained[:5]})")
    if not by_split[TRAIN]:
        raise PipelineError("no speaker has --min-clips-per-speaker clips: nothing to train on; lower the setting")


def check_speakers_disjoint(index: pd.DataFrame) -> None:
    words = index[index["speaker"] != ""]
    train = set(words.loc[words["split"] == TRAIN, "speaker"])
    validation = set(words.loc[words["split"] == VALIDATION, "speaker"])
    shared = sorted(train & validation)
    if shared:
        raise PipelineError(
            f"{len(shared)} speakers are in both training and validation (e.g. {shared[:5]}); "
            "validation must hold out whole speakers: check validation_list.txt"
        )


def noise_window_starts(usable: int, split: str) -> tuple[int, int]:
    """[low, high): where a window of `split` may start in a noise file with `usable` starts (its
    length less one window). Validation draws from the file's last fifth, every other split from
    the rest, so that validation never hears noise that training heard."""
    boundary = int(usable * _NOISE_TRAIN_FRACTION)
    return (boundary, usable) if split == VALIDATION else (0, boundary)


def plan_noise_windows(noise_files: list[Path], extract_dir: Path, split: str, count: int,
                       config: PrepareConfig, rng: np.random.Generator, label: str = SILENCE_LABEL,
                       digital_share: float = 0.0, fixed_gain: float | None = None) -> pd.DataFrame:
    """Rows that describe 1 s windows of the noise files at a random level (or exactly zero).

    They become silence clips, or with split "noise" the bank that training mixes into words. The
    gain recorded for each window brings it to an RMS level drawn from config.silence_rms_decades, or is
    `fixed_gain` as given.
    """
    if count == 0:
        return pd.DataFrame(columns=INDEX_COLUMNS)
    if not noise_files:
        # Without noise recordings, silence can only be digital silence: planned as gain 0.
        return pd.DataFrame([{"path": "", "word": label, "label": label, "speaker": "", "split": split,
                              "offset": 0, "gain": 0.0, "kind": NOISE_WINDOW} for _ in range(count)],
                            columns=INDEX_COLUMNS)
    audio = config.audio
    rows = []
    lengths = [int(wav_seconds(f) * audio.sample_rate) for f in noise_files]
    for _ in range(count):
        which = int(rng.integers(len(noise_files)))
        usable = lengths[which] - audio.clip_samples
        low, high = noise_window_starts(usable, split)
        offset = int(rng.integers(low, max(high, low + 1))) if usable > 0 else 0
        if fixed_gain is not None:
            gain = fixed_gain
        elif rng.random() < digital_share:
            gain = 0.0
        else:
            level = float(10 ** rng.uniform(*config.silence_rms_decades))
            gain = level / max(rms(load_clip(noise_files[which], audio, offset)), _QUIETEST_WINDOW_RMS)
        rows.append({
            "path": noise_files[which].relative_to(extract_dir).as_posix(),
            "word": label, "label": label, "speaker": "",
            "split": split, "offset": offset, "gain": round(gain, 6), "kind": NOISE_WINDOW,
        })
    return pd.DataFrame(rows)


def plan_room_tone(clips: pd.DataFrame, split: str, count: int, rng: np.random.Generator,
                   label: str = SILENCE_LABEL) -> pd.DataFrame:
    """Silence rows made from the quiet stretches of this split's own word clips: real rooms and
    microphones, like the test's recorded silence, and never a speaker from the other split."""
    sources = clips[clips["split"] == split]
    if count == 0 or sources.empty:
        return pd.DataFrame(columns=INDEX_COLUMNS)
    picked = sources.iloc[rng.choice(len(sources), size=count, replace=count > len(sources))]
    return pd.DataFrame({
        "path": picked["path"].to_numpy(), "word": label, "label": label,
        "speaker": picked["speaker"].to_numpy(), "split": split,
        "offset": rng.integers(0, 16_000, size=count),  # the phase of the loop
        "gain": np.round(10 ** rng.uniform(*ROOM_TONE_GAIN_DECADES, size=count), 6), "kind": ROOM_TONE,
    })


def hold_out(clips: pd.DataFrame, config: PrepareConfig, rng: np.random.Generator,
             unknown_label: str = UNKNOWN_LABEL) -> pd.Series:
    """Mark clips that neither train nor validate: held-out words spoken by training speakers,
    and auxiliary words beyond the unknown share of training (which matters at full scale,
    where two thirds of the clips are auxiliary words)."""
    split = clips["split"].copy()
    split[clips["word"].isin(config.holdout_words) & (split == TRAIN)] = UNUSED
    in_train = split == TRAIN
    unknown = clips.index[in_train & (clips["label"] == unknown_label)]
    allowed = int(config.unknown_share * in_train.sum())
    if len(unknown) > allowed:
        dropped = rng.choice(unknown, size=len(unknown) - allowed, replace=False)
        split[dropped] = UNUSED
        log.info("unknown share: %d of %d auxiliary-word training clips kept", allowed, len(unknown))
    return split


def index_test_clips(test_audio: Path) -> pd.DataFrame:
    wavs = audio_files(test_audio)
    if not wavs:
        raise PipelineError(f"{test_audio}: expected the test clips (*.wav), found none")
    return pd.DataFrame({
        "path": [f"test/audio/{w.name}" for w in wavs],
        "fname": [w.name for w in wavs],
    })


def check_test_matches_sample(test_index: pd.DataFrame, sample_submission: Path) -> None:
    """Fail now, not after training, when the test folder and sample_submission.csv disagree."""
    try:
        sample = pd.read_csv(sample_submission, keep_default_na=False)
    except (OSError, ValueError) as error:
        raise PipelineError(f"{sample_submission}: cannot read it ({error})") from error
    if "fname" not in sample.columns:
        raise PipelineError(f"{sample_submission}: expected a fname column; found {', '.join(sample.columns)}")
    in_folder, in_sample = set(test_index["fname"]), set(sample["fname"])
    if in_folder != in_sample:
        only_folder, only_sample = sorted(in_folder - in_sample), sorted(in_sample - in_folder)
        raise PipelineError(
            f"{sample_submission} lists {len(in_sample)} clips but {sample_submission.parent / 'test/audio'} holds "
            f"{len(in_folder)}: {len(only_sample)} listed clips are missing from the folder (e.g. {only_sample[:3]}), "
            f"{len(only_folder)} clips in the folder are not listed (e.g. {only_folder[:3]})"
        )


def prepare(paths: Paths, config: PrepareConfig) -> None:
    """Write index.csv (every clip with its split, silence and noise windows included) and test_index.csv."""
    rng = np.random.default_rng(config.seed)
    task = get_task(config.task)
    clips = index_word_clips(paths.train_audio_dir, task)
    if task.held_out == HELD_OUT_CLIPS:
        clips["split"] = speaker_split(clips, config, rng)
    else:
        clips["split"] = assign_splits(clips, paths.extract_dir, config.extra_validation_share)
    if task.unknown_label is not None:  # a task with an unknown class validates it on words never trained on
        clips["split"] = hold_out(clips, config, rng, task.unknown_label)
    clips["offset"] = 0
    clips["gain"] = 1.0
    clips["kind"] = CLIP

    noise_files = audio_files(paths.train_audio_dir / BACKGROUND_NOISE_DIR)
    if not noise_files:
        where = paths.train_audio_dir / BACKGROUND_NOISE_DIR
        if config.require_noise:
            raise PipelineError(f"no noise files (*.wav) in {where}, and --require-noise is set: cannot synthesise "
                                "silence clips from noise or mix noise into training")
        log.warning("no noise files (*.wav) in %s: silence clips will be digital silence and no noise is mixed "
                    "into training (--require-noise makes this an error)", where)
    parts = [clips]
    for split in (TRAIN, VALIDATION) if task.silence_label is not None else ():
        n_words = int((clips["split"] == split).sum())
        count = int(round(n_words * config.silence_share / (1.0 - config.silence_share)))
        from_rooms = int(round(count * config.room_tone_share))
        parts.append(plan_room_tone(clips, split, from_rooms, rng, task.silence_label))
        parts.append(plan_noise_windows(noise_files, paths.extract_dir, split, count - from_rooms, config, rng,
                                        label=task.silence_label, digital_share=config.digital_silence_share))
    if noise_files:
        parts.append(plan_noise_windows(noise_files, paths.extract_dir, NOISE, config.noise_bank, config, rng,
                                        label=NOISE, fixed_gain=1.0))
    index = pd.concat(parts, ignore_index=True)[INDEX_COLUMNS]
    if task.held_out == HELD_OUT_CLIPS:
        check_speakers_trained(index)
    else:
        check_speakers_disjoint(index)
    if (index["split"] == VALIDATION).sum() == 0:
        raise PipelineError("the validation split is empty: check validation_list.txt against train/audio")

    with atomic_path(paths.index_csv) as temp:
        index.to_csv(temp, index=False)
    test_index = index_test_clips(paths.test_audio_dir)
    check_test_matches_sample(test_index, paths.sample_submission)
    with atomic_path(paths.test_index_csv) as temp:
        test_index.to_csv(temp, index=False)
    if task.held_out == HELD_OUT_CLIPS:
        log_speaker_split(index)
        return
    labelled = index[index["split"].isin([TRAIN, VALIDATION])]
    counts = labelled.groupby(["split", "label"]).size().unstack(0).fillna(0).astype(int)
    log.info("clips per label and split (%d held out of both, %d noise windows for mixing):\n%s",
             int((index["split"] == UNUSED).sum()), int((index["split"] == NOISE).sum()), counts.to_string())
    unseen = index[(index["split"] == VALIDATION) & index["word"].isin(config.holdout_words)]
    log.info("validation holds %d clips of words never trained on (%s)", len(unseen), ", ".join(config.holdout_words))


def log_speaker_split(index: pd.DataFrame) -> None:
    """One line, not a table: the classes are a few hundred speakers."""
    train, validation, unseen = (index[index["split"] == name] for name in (TRAIN, VALIDATION, UNSEEN))
    said = set(zip(train["speaker"], train["word"]))
    new_word = sum((s, w) not in said for s, w in zip(validation["speaker"], validation["word"]))
    log.info("%d speakers as classes: %d training clips, %d validation clips (%d of a word the speaker never says "
             "in training); %d speakers with fewer clips (%d clips) kept for verification",
             train["speaker"].nunique(), len(train), len(validation), new_word, unseen["speaker"].nunique(),
             len(unseen))
