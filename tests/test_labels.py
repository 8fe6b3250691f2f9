import pytest

from competition import PipelineError
from competition.core.labels import (
    AUXILIARY_WORDS,
    BACKGROUND_NOISE_DIR,
    COMMANDS,
    LABELS,
    SILENCE_LABEL,
    UNKNOWN_LABEL,
    WORDS,
    read_labels,
    word_to_label,
    write_labels,
)


def test_twelve_labels_ten_commands_then_silence_and_unknown():
    assert len(LABELS) == 12 and len(set(LABELS)) == 12
    assert LABELS[:10] == COMMANDS
    assert LABELS[10:] == (SILENCE_LABEL, UNKNOWN_LABEL)
    assert len(WORDS) == 30 and len(set(WORDS)) == 30


@pytest.mark.parametrize("word", COMMANDS)
def test_commands_keep_their_label(word):
    assert word_to_label(word) == word


@pytest.mark.parametrize("word", AUXILIARY_WORDS + ("learn", "follow"))
def test_other_words_are_unknown(word):
    assert word_to_label(word) == UNKNOWN_LABEL


def test_background_noise_is_not_a_word():
    with pytest.raises(ValueError, match="silence"):
        word_to_label(BACKGROUND_NOISE_DIR)


def test_labels_file_round_trips_in_order(tmp_path):
    order = list(reversed(LABELS))
    write_labels(tmp_path / "labels.txt", order)
    assert read_labels(tmp_path / "labels.txt") == order


def test_labels_file_with_a_foreign_label_is_refused(tmp_path):
    (tmp_path / "labels.txt").write_text("yes\nmaybe\n")
    with pytest.raises(PipelineError, match=r"labels\.txt.*maybe"):
        read_labels(tmp_path / "labels.txt")


def test_missing_labels_file_says_which_stage_to_run(tmp_path):
    with pytest.raises(PipelineError, match="--stage train"):
        read_labels(tmp_path / "labels.txt")
