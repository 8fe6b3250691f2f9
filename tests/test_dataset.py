import dataclasses

import numpy as np
import pandas as pd
import pytest
from conftest import tone, write_wav

from competition import PipelineError
from competition.core.config import Settings
from competition.core.labels import BACKGROUND_NOISE_DIR, SILENCE_LABEL, UNKNOWN_LABEL
from competition.data.prepare import assign_splits, check_speakers_disjoint, hash_split, prepare, speaker_of
from competition.frontend.audio import load_clip, rms

SPEAKERS = [f"{i:08x}" for i in range(0x1000, 0x1000 + 40)]


def _train_folder(paths, words=("yes", "no", "bird"), speakers=SPEAKERS[:12], noise=True, validation=None):
    audio = paths.train_audio_dir
    for word in words:
        for speaker in speakers:
            write_wav(audio / word / f"{speaker}_nohash_0.wav", tone(frequency=300 + 10 * len(word)))
    if noise:
        rng = np.random.default_rng(0)
        for name, level in (("white_noise", 3000), ("pink_noise", 30)):  # files a hundred times apart in level
            write_wav(audio / BACKGROUND_NOISE_DIR / f"{name}.wav", (rng.normal(0, level, 16_000 * 5)).astype(np.int16))
    if validation is not None:
        (paths.extract_dir / "train" / "validation_list.txt").write_text(
            "".join(f"{w}/{s}_nohash_0.wav\n" for w in words for s in validation))
    write_wav(paths.test_audio_dir / "clip_0001.wav", tone())
    paths.sample_submission.write_text("fname,label\nclip_0001.wav,silence\n")


def test_speaker_is_the_part_before_nohash():
    assert speaker_of("train/audio/yes/0a7c2a8d_nohash_3.wav") == "0a7c2a8d"
    with pytest.raises(PipelineError, match="_nohash_"):
        speaker_of("yes/recording.wav")


def test_hash_split_is_stable_and_keeps_a_speaker_together():
    for speaker in SPEAKERS:
        splits = {hash_split(f"{word}/{speaker}_nohash_{n}.wav") for word in ("yes", "cat") for n in range(3)}
        assert len(splits) == 1
    assert ([hash_split(f"yes/{s}_nohash_0.wav") for s in SPEAKERS]
            == [hash_split(f"no/{s}_nohash_1.wav") for s in SPEAKERS])


def test_hash_split_holds_out_about_a_tenth_of_speakers():
    speakers = [f"{i:08x}" for i in range(0, 2**32, 2**32 // 4000)]
    shares = pd.Series([hash_split(f"{s}_nohash_0.wav") for s in speakers]).value_counts(normalize=True)
    assert 0.08 < shares["validation"] < 0.12 and 0.08 < shares["testing"] < 0.12


def test_prepare_uses_the_validation_list_and_keeps_speakers_apart(make_paths, tiny_settings):
    paths = make_paths()
    _train_folder(paths, validation=SPEAKERS[:3])
    prepare(paths, dataclasses.replace(tiny_settings, unknown_share=1.0))
    index = pd.read_csv(paths.index_csv, keep_default_na=False)
    words = index[~index["label"].isin([SILENCE_LABEL, "noise"])]
    assert set(words.loc[words["split"] == "validation", "speaker"]) == set(SPEAKERS[:3])
    assert set(words.loc[words["split"] == "train", "speaker"]) == set(SPEAKERS[3:12])
    assert set(index.loc[index["word"] == "bird", "label"]) == {UNKNOWN_LABEL}
    assert list(pd.read_csv(paths.prepare_dir / "test_index.csv")["fname"]) == ["clip_0001.wav"]


def test_prepare_without_a_validation_list_splits_by_speaker_hash(make_paths, tiny_settings):
    paths = make_paths()
    _train_folder(paths, speakers=SPEAKERS)
    prepare(paths, dataclasses.replace(tiny_settings, extra_validation_share=0.0, unknown_share=1.0))
    index = pd.read_csv(paths.index_csv, keep_default_na=False)
    words = index[~index["label"].isin([SILENCE_LABEL, "noise"])]
    expected = words["path"].map(lambda p: "validation" if hash_split(p) == "validation" else "train")
    assert (words["split"] == expected).all()
    assert (words["split"] == "validation").any()


def test_silence_count_follows_the_share_and_is_seeded(make_paths, tiny_settings):
    paths = make_paths()
    _train_folder(paths, validation=SPEAKERS[:3])
    settings = dataclasses.replace(tiny_settings, silence_share=0.2, unknown_share=1.0, digital_silence_share=0.0,
                                   room_tone_share=0.0)
    prepare(paths, settings)
    first = pd.read_csv(paths.index_csv, keep_default_na=False)
    silence = first[first["label"] == SILENCE_LABEL]
    # 27 training word clips at a 20 % share: 27 * 0.2 / 0.8 = 6.75 -> 7; validation 9 -> 2
    assert (silence["split"] == "train").sum() == 7 and (silence["split"] == "validation").sum() == 2
    assert silence["path"].str.contains(BACKGROUND_NOISE_DIR).all()
    assert (silence["gain"] > 0).all()
    noise = first[first["split"] == "noise"]
    assert len(noise) == settings.noise_bank and (noise["gain"] == 1.0).all()

    prepare(paths, settings)
    pd.testing.assert_frame_equal(first, pd.read_csv(paths.index_csv, keep_default_na=False))
    prepare(paths, dataclasses.replace(settings, seed=settings.seed + 1))
    assert not first.equals(pd.read_csv(paths.index_csv, keep_default_na=False))


def _level(paths, row, settings) -> float:
    return rms(load_clip(paths.extract_dir / row["path"], settings.audio, int(row["offset"]), float(row["gain"])))


def test_silence_levels_do_not_depend_on_how_loud_the_noise_files_are(make_paths, tiny_settings):
    paths = make_paths()
    _train_folder(paths, speakers=SPEAKERS[:30], validation=SPEAKERS[:3])
    settings = dataclasses.replace(tiny_settings, silence_share=0.5, digital_silence_share=0.0, room_tone_share=0.0,
                                   unknown_share=1.0)
    prepare(paths, settings)
    index = pd.read_csv(paths.index_csv, keep_default_na=False)
    silence = index[index["label"] == SILENCE_LABEL]
    decades = np.log10([_level(paths, row, settings) for _, row in silence.iterrows()])
    low, high = Settings().silence_rms_decades
    assert ((decades > low - 0.01) & (decades < high + 0.01)).all()
    for name in ("white_noise", "pink_noise"):  # both files reach both ends of the range
        from_file = decades[silence["path"].str.contains(name).to_numpy()]
        assert from_file.min() < low + 1.0 and from_file.max() > high - 1.0
    assert (index.loc[index["split"] == "noise", "gain"] == 1.0).all()  # the bank mixed into words: as recorded


def _prepared_index(paths, settings) -> pd.DataFrame:
    """The index prepare writes for 30 speakers, the first 10 of them in validation."""
    _train_folder(paths, speakers=SPEAKERS[:30], validation=SPEAKERS[:10])
    prepare(paths, settings)
    return pd.read_csv(paths.index_csv, keep_default_na=False)


def test_validation_silence_comes_from_other_noise_windows_than_training(make_paths, tiny_settings):
    index = _prepared_index(make_paths(), dataclasses.replace(tiny_settings, silence_share=0.5, room_tone_share=0.0))
    silence = index[index["label"] == SILENCE_LABEL]
    assert (silence.loc[silence["split"] == "train", "offset"].max()
            < silence.loc[silence["split"] == "validation", "offset"].min())
    noise = index[index["split"] == "noise"]
    assert noise["offset"].max() < silence.loc[silence["split"] == "validation", "offset"].min()


def test_no_noise_folder_falls_back_to_digital_silence_with_a_warning(make_paths, tiny_settings, caplog):
    paths = make_paths()
    _train_folder(paths, noise=False, validation=SPEAKERS[:3])
    prepare(paths, tiny_settings)
    index = pd.read_csv(paths.index_csv, keep_default_na=False)
    silence = index[(index["label"] == SILENCE_LABEL) & (index["kind"] == "noise-window")]
    assert len(silence) > 0 and (silence["gain"] == 0).all() and (silence["path"] == "").all()
    assert not (index["split"] == "noise").any()
    assert "no noise files" in caplog.text and "digital silence" in caplog.text


def test_no_noise_folder_is_an_error_when_noise_is_required(make_paths, tiny_settings):
    paths = make_paths()
    _train_folder(paths, noise=False, validation=SPEAKERS[:3])
    with pytest.raises(PipelineError, match=r"no noise files \(\*\.wav\) in .*_background_noise_, and --require-noise"):
        prepare(paths, dataclasses.replace(tiny_settings, require_noise=True))


def test_a_sample_submission_that_disagrees_with_the_test_folder_is_refused_early(make_paths, tiny_settings):
    paths = make_paths()
    _train_folder(paths, validation=SPEAKERS[:3])
    paths.sample_submission.write_text("fname,label\nclip_0001.wav,silence\nclip_0002.wav,silence\nclip_0003.wav,silence\n")
    with pytest.raises(PipelineError, match=r"lists 3 clips but .*test/audio holds 1: 2 listed clips are missing"):
        prepare(paths, tiny_settings)


def test_a_word_folder_outside_the_thirty_is_unknown_and_named(make_paths, tiny_settings, caplog):
    paths = make_paths()
    _train_folder(paths, words=("yes", "marmalade"), validation=SPEAKERS[:3])
    prepare(paths, dataclasses.replace(tiny_settings, unknown_share=1.0))
    index = pd.read_csv(paths.index_csv, keep_default_na=False)
    assert set(index.loc[index["word"] == "marmalade", "label"]) == {UNKNOWN_LABEL}
    assert "outside the 30 competition words" in caplog.text and "marmalade" in caplog.text


def test_a_speaker_on_both_sides_is_refused():
    index = pd.DataFrame({"speaker": ["a", "a", "b"], "split": ["train", "validation", "train"], "label": ["yes"] * 3})
    with pytest.raises(PipelineError, match="1 speakers are in both"):
        check_speakers_disjoint(index)


def test_assign_splits_reads_listed_paths(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "validation_list.txt").write_text("yes/aaaa_nohash_0.wav\n")
    clips = pd.DataFrame({"path": ["train/audio/yes/aaaa_nohash_0.wav", "train/audio/yes/bbbb_nohash_0.wav"],
                          "speaker": ["aaaa", "bbbb"]})
    assert list(assign_splits(clips, tmp_path)) == ["validation", "train"]


def test_a_stable_share_of_testing_speakers_joins_validation(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "validation_list.txt").write_text("yes/v0000000_nohash_0.wav\n")
    (tmp_path / "train" / "testing_list.txt").write_text("".join(f"{w}/{s}_nohash_0.wav\n"
                                                                 for s in SPEAKERS for w in ("yes", "no")))
    clips = pd.DataFrame([{"path": f"train/audio/{w}/{s}_nohash_0.wav", "speaker": s}
                          for s in SPEAKERS for w in ("yes", "no")])
    none, some, more = (assign_splits(clips, tmp_path, share) for share in (0.0, 0.3, 0.6))
    assert (none == "train").all()
    moved, moved_more = set(clips.loc[some == "validation", "speaker"]), set(clips.loc[more == "validation", "speaker"])
    assert 0 < len(moved) < len(moved_more) < len(SPEAKERS) and moved <= moved_more
    assert (clips.loc[some == "validation"].groupby("speaker").size() == 2).all()  # whole speakers move


def test_held_out_words_validate_but_never_train(make_paths, tiny_settings):
    paths = make_paths()
    _train_folder(paths, words=("yes", "bird", "wow"), validation=SPEAKERS[:3])
    prepare(paths, dataclasses.replace(tiny_settings, holdout_words=("wow",), unknown_share=1.0))
    index = pd.read_csv(paths.index_csv, keep_default_na=False)
    wow = index[index["word"] == "wow"]
    assert set(wow.loc[wow["speaker"].isin(SPEAKERS[:3]), "split"]) == {"validation"}
    assert set(wow.loc[~wow["speaker"].isin(SPEAKERS[:3]), "split"]) == {"unused"}
    assert (index.loc[index["word"] == "bird", "split"] != "unused").all()


def test_unknown_share_caps_auxiliary_words_in_training(make_paths, tiny_settings):
    paths = make_paths()
    _train_folder(paths, words=("yes", "no", "bird", "cat", "bed"), validation=SPEAKERS[:3])
    prepare(paths, dataclasses.replace(tiny_settings, unknown_share=0.2, silence_share=0.0, holdout_words=()))
    train = pd.read_csv(paths.index_csv, keep_default_na=False).query("split == 'train'")
    # 9 speakers x 5 words = 45 training clips; 20 % of them may be unknown
    assert (train["label"] == UNKNOWN_LABEL).sum() == 9 and (train["label"] == "yes").sum() == 9


def test_a_share_of_silence_is_digital_silence(make_paths, tiny_settings):
    paths = make_paths()
    _train_folder(paths, speakers=SPEAKERS[:30], validation=SPEAKERS[:5])
    prepare(paths, dataclasses.replace(tiny_settings, silence_share=0.5, digital_silence_share=0.5,
                                       room_tone_share=0.0))
    silence = pd.read_csv(paths.index_csv, keep_default_na=False).query("label == 'silence'")
    assert 0.3 < (silence["gain"] == 0).mean() < 0.7


def test_room_tone_silence_comes_from_the_same_splits_speakers(make_paths, tiny_settings):
    index = _prepared_index(make_paths(), dataclasses.replace(tiny_settings, silence_share=0.5, room_tone_share=0.5))
    silence = index[index["label"] == SILENCE_LABEL]
    rooms = silence[silence["kind"] == "room-tone"]
    assert 0.35 < len(rooms) / len(silence) < 0.65
    assert set(rooms.loc[rooms["split"] == "validation", "speaker"]) <= set(SPEAKERS[:10])
    assert set(rooms.loc[rooms["split"] == "train", "speaker"]).isdisjoint(SPEAKERS[:10])
    assert rooms["path"].str.startswith("train/audio/").all()
