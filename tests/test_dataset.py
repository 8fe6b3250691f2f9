import dataclasses

import numpy as np
import pandas as pd
import pytest

from competition import PipelineError
from competition.dataset import assign_splits, check_speakers_disjoint, hash_split, prepare, speaker_of
from competition.labels import BACKGROUND_NOISE_DIR, SILENCE_LABEL, UNKNOWN_LABEL
from conftest import tone, write_wav

SPEAKERS = [f"{i:08x}" for i in range(0x1000, 0x1000 + 40)]


def _train_folder(paths, words=("yes", "no", "bird"), speakers=SPEAKERS[:12], noise=True, validation=None):
    audio = paths.train_audio_dir
    for word in words:
        for speaker in speakers:
            write_wav(audio / word / f"{speaker}_nohash_0.wav", tone(frequency=300 + 10 * len(word)))
    if noise:
        rng = np.random.default_rng(0)
        for name in ("white_noise", "pink_noise"):
            write_wav(audio / BACKGROUND_NOISE_DIR / f"{name}.wav", (rng.normal(0, 3000, 16_000 * 5)).astype(np.int16))
    if validation is not None:
        (paths.extract_dir / "train" / "validation_list.txt").write_text(
            "".join(f"{w}/{s}_nohash_0.wav\n" for w in words for s in validation))
    write_wav(paths.test_audio_dir / "clip_0001.wav", tone())


def test_speaker_is_the_part_before_nohash():
    assert speaker_of("train/audio/yes/0a7c2a8d_nohash_3.wav") == "0a7c2a8d"
    with pytest.raises(PipelineError, match="_nohash_"):
        speaker_of("yes/recording.wav")


def test_hash_split_is_stable_and_keeps_a_speaker_together():
    for speaker in SPEAKERS:
        splits = {hash_split(f"{word}/{speaker}_nohash_{n}.wav") for word in ("yes", "cat") for n in range(3)}
        assert len(splits) == 1
    assert [hash_split(f"yes/{s}_nohash_0.wav") for s in SPEAKERS] == [hash_split(f"no/{s}_nohash_1.wav") for s in SPEAKERS]


def test_hash_split_holds_out_about_a_tenth_of_speakers():
    speakers = [f"{i:08x}" for i in range(0, 2**32, 2**32 // 4000)]
    shares = pd.Series([hash_split(f"{s}_nohash_0.wav") for s in speakers]).value_counts(normalize=True)
    assert 0.08 < shares["validation"] < 0.12 and 0.08 < shares["testing"] < 0.12


def test_prepare_uses_the_validation_list_and_keeps_speakers_apart(make_paths, tiny_settings):
    paths = make_paths()
    _train_folder(paths, validation=SPEAKERS[:3])
    prepare(paths, tiny_settings)
    index = pd.read_csv(paths.index_csv, keep_default_na=False)
    words = index[index["label"] != SILENCE_LABEL]
    assert set(words.loc[words["split"] == "validation", "speaker"]) == set(SPEAKERS[:3])
    assert set(words.loc[words["split"] == "train", "speaker"]) == set(SPEAKERS[3:12])
    assert set(index.loc[index["word"] == "bird", "label"]) == {UNKNOWN_LABEL}
    assert list(pd.read_csv(paths.prepare_dir / "test_index.csv")["fname"]) == ["clip_0001.wav"]


def test_prepare_without_a_validation_list_splits_by_speaker_hash(make_paths, tiny_settings):
    paths = make_paths()
    _train_folder(paths, speakers=SPEAKERS)
    prepare(paths, tiny_settings)
    index = pd.read_csv(paths.index_csv, keep_default_na=False)
    words = index[index["label"] != SILENCE_LABEL]
    expected = words["path"].map(lambda p: "validation" if hash_split(p) == "validation" else "train")
    assert (words["split"] == expected).all()
    assert (words["split"] == "validation").any()


def test_silence_count_follows_the_share_and_is_seeded(make_paths, tiny_settings):
    paths = make_paths()
    _train_folder(paths, validation=SPEAKERS[:3])
    settings = dataclasses.replace(tiny_settings, silence_share=0.2)
    prepare(paths, settings)
    first = pd.read_csv(paths.index_csv, keep_default_na=False)
    silence = first[first["label"] == SILENCE_LABEL]
    # 27 training word clips at a 20 % share: 27 * 0.2 / 0.8 = 6.75 -> 7; validation 9 -> 2
    assert (silence["split"] == "train").sum() == 7 and (silence["split"] == "validation").sum() == 2
    assert silence["path"].str.contains(BACKGROUND_NOISE_DIR).all()
    assert ((silence["gain"] > 0) & (silence["gain"] <= 1)).all()

    prepare(paths, settings)
    pd.testing.assert_frame_equal(first, pd.read_csv(paths.index_csv, keep_default_na=False))
    prepare(paths, dataclasses.replace(settings, seed=settings.seed + 1))
    assert not first.equals(pd.read_csv(paths.index_csv, keep_default_na=False))


def test_validation_silence_comes_from_other_noise_windows_than_training(make_paths, tiny_settings):
    paths = make_paths()
    _train_folder(paths, speakers=SPEAKERS[:30], validation=SPEAKERS[:10])
    prepare(paths, dataclasses.replace(tiny_settings, silence_share=0.5))
    index = pd.read_csv(paths.index_csv, keep_default_na=False)
    silence = index[index["label"] == SILENCE_LABEL]
    assert silence.loc[silence["split"] == "train", "offset"].max() < silence.loc[silence["split"] == "validation", "offset"].min()


def test_no_noise_folder_is_a_clear_error_unless_silence_is_off(make_paths, tiny_settings):
    paths = make_paths()
    _train_folder(paths, noise=False, validation=SPEAKERS[:3])
    with pytest.raises(PipelineError, match=r"no noise files in .*_background_noise_.*--silence-share 0"):
        prepare(paths, tiny_settings)
    prepare(paths, dataclasses.replace(tiny_settings, silence_share=0.0))
    assert SILENCE_LABEL not in set(pd.read_csv(paths.index_csv)["label"])


def test_a_speaker_on_both_sides_is_refused():
    index = pd.DataFrame({"speaker": ["a", "a", "b"], "split": ["train", "validation", "train"], "label": ["yes"] * 3})
    with pytest.raises(PipelineError, match="1 speakers are in both"):
        check_speakers_disjoint(index)


def test_assign_splits_reads_listed_paths(tmp_path):
    listed = tmp_path / "validation_list.txt"
    listed.write_text("yes/aaaa_nohash_0.wav\n")
    clips = pd.DataFrame({"path": ["train/audio/yes/aaaa_nohash_0.wav", "train/audio/yes/bbbb_nohash_0.wav"]})
    assert list(assign_splits(clips, listed)) == ["validation", "train"]
