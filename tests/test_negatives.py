"""The negatives made from the training clips, labelled unknown: --cut-unknowns (command clips cut to their
word's start at the window's end) and --reversed-unknowns (words played backwards)."""
import numpy as np
import pytest
import tensorflow as tf

from competition import PipelineError
from competition.core.config import CUT_KEEPS, Settings, TrainConfig, fingerprint, project
from competition.core.labels import COMMANDS, LABELS, REVERSE_INTO_COMMANDS, SILENCE_LABEL, UNKNOWN_LABEL
from competition.train.loop import balanced_weights
from competition.train.negatives import WORD_RISE_ROWS, Cut, Reversal
from competition.train.pipeline import epoch_dataset

SEED = tf.constant([5, 6], tf.int64)
UNKNOWN = LABELS.index(UNKNOWN_LABEL)
FRAMES, WORD_START, WORD_ROWS = 99, 30, 40
QUIET, LOUD = -20.0, 0.0


def _words(batch: int, seed: int = 0, start: int = WORD_START) -> np.ndarray:
    """Log-power spectrograms: room noise, and a word in rows `start`.. whose rows count up, so a
    row of the output tells which row of the word it is."""
    rng = np.random.default_rng(seed)
    x = QUIET + rng.normal(scale=0.5, size=(batch, FRAMES, 6)).astype(np.float32)
    x[:, start:start + WORD_ROWS] = LOUD + 0.01 * np.arange(WORD_ROWS, dtype=np.float32)[None, :, None]
    return x


def test_cut_clips_keep_only_their_words_start_at_the_window_end_and_become_unknown():
    cut = Cut.plan(list(LABELS), 0.5)
    labels = tf.constant(np.arange(1200) % len(LABELS), tf.int32)
    x = _words(1200)
    out, new_labels = (t.numpy() for t in cut(tf.constant(x), labels, SEED))
    changed = np.abs(out - x).sum(axis=(1, 2)) > 0
    assert np.all(new_labels[changed] == UNKNOWN) and np.array_equal(new_labels[~changed], labels.numpy()[~changed])
    assert np.array_equal(out[~changed], x[~changed])
    commands = np.isin(labels.numpy(), [LABELS.index(c) for c in COMMANDS])
    assert not changed[~commands].any() and 0.45 < changed[commands].mean() < 0.55
    kept_rows = []
    for clip, source in zip(out[changed], x[changed]):
        loud = np.flatnonzero(clip[:, 0] > QUIET / 2)
        kept = len(loud)
        # the word's first `kept` rows end at the window's last row, the sound before the word moves with
        # it, and the rows it left repeat that sound, from a little before the word's rise, further back
        assert np.array_equal(loud, np.arange(FRAMES - kept, FRAMES))
        shift = FRAMES - kept - WORD_START
        assert np.array_equal(clip[shift:], source[:WORD_START + kept])
        assert np.array_equal(clip[:shift], source[(np.arange(shift) - shift) % (WORD_START - WORD_RISE_ROWS)])
        kept_rows.append(kept)
    low, high = (int(np.ceil(share * WORD_ROWS)) for share in CUT_KEEPS)
    assert min(kept_rows) >= low and max(kept_rows) <= high and len(set(kept_rows)) > 5
    again = cut(tf.constant(x), labels, SEED)[0].numpy()
    assert np.array_equal(again, out) and not np.array_equal(again, cut(tf.constant(x), labels, SEED + 1)[0])
    assert Cut.plan(list(LABELS), 0.0) is None and Cut.plan(["a", "b"], 0.2) is None  # off; no unknown


def test_the_word_is_the_loud_run_around_the_loudest_row_and_a_clip_without_one_is_never_cut():
    cut = Cut.plan(list(LABELS), 0.999)
    labels = tf.constant([LABELS.index("up")] * 64, tf.int32)
    x = _words(64, seed=1)
    clicked = x.copy()
    clicked[:, 90] = LOUD  # a click after the word, with quiet rows between: not part of the word
    out = cut(tf.constant(clicked), labels, SEED)[0].numpy()
    kept = (out[:, :, 0] > QUIET / 2).sum(axis=1)  # the click moved past the window's end with the word's rest
    low, high = (int(np.ceil(share * WORD_ROWS)) for share in CUT_KEEPS)
    assert kept.min() >= low and kept.max() <= high
    flat = np.zeros_like(x)                                  # digital silence: no word to find
    level = x.copy()
    level[:] = LOUD + np.random.default_rng(2).normal(scale=0.5, size=x.shape)  # all rows near the loudest
    for unfindable in (flat, level):
        out, new_labels = (t.numpy() for t in cut(tf.constant(unfindable), labels, SEED))
        assert np.array_equal(out, unfindable) and np.array_equal(new_labels, labels.numpy())
    start = WORD_RISE_ROWS - 2  # too near the first row to have sound before it to repeat
    at_start = _words(64, seed=1, start=start)
    out = cut(tf.constant(at_start), labels, SEED)[0].numpy()
    kept = (out[:, :, 0] > QUIET / 2).sum(axis=1)
    for clip, source, k in zip(out, at_start, kept):
        assert np.all(clip[:FRAMES - k - start] == source.min())
        assert np.array_equal(clip[FRAMES - k - start:], source[:start + k])


def test_class_weights_balance_the_labels_an_epoch_has_once_cut_and_reversed_clips_are_unknown():
    known = np.repeat(np.arange(len(LABELS)), [300] * 10 + [200, 100]).astype(np.int32)
    cut = Cut.plan(list(LABELS), 0.1)
    expected = cut.expected_counts(np.bincount(known).astype(np.float64))
    assert expected.sum() == pytest.approx(len(known)) and expected[UNKNOWN] == pytest.approx(100 + 0.1 * 10 * 300)
    weights = balanced_weights(known, None, cut)
    weighed = np.array([weights[c] * expected[c] for c in range(len(LABELS))])
    assert np.allclose(weighed, weighed[0])
    # both: the reversal first (as the epoch draws it), then the cut of the commands still commands
    reversal = Reversal.plan(list(LABELS), 0.1)
    both = cut.expected_counts(reversal.expected_counts(np.bincount(known).astype(np.float64)))
    weights = balanced_weights(known, reversal, cut)
    assert np.allclose([weights[c] * both[c] for c in range(len(LABELS))], len(known) / len(LABELS))
    assert both[UNKNOWN] == pytest.approx(100 + 0.1 * 8 * 300 + 0.1 * (10 * 300 - 0.1 * 8 * 300))
    # no unknown clips of its own (--unknown-share 0): the cut ones are its clips, and they weigh
    without_unknown = known[known != UNKNOWN]
    weights = balanced_weights(without_unknown, None, cut)
    assert weights[UNKNOWN] == pytest.approx(len(without_unknown) / (len(LABELS) * 0.1 * 10 * 300))


def test_an_epoch_cuts_its_clips_after_augmenting_them():
    x = _words(40, seed=6).astype(np.float16)
    y = (np.arange(40) % len(LABELS)).astype(np.int32)
    cut = Cut.plan(list(LABELS), 0.5)
    for settings in (Settings(batch_size=40, augment=False), Settings(batch_size=40)):
        (features, labels), = list(epoch_dataset(x, y, None, settings, 0, 0, cut=cut))
        (plain, plain_labels), = list(epoch_dataset(x, y, None, settings, 0, 0))
        cut_rows = labels.numpy() != plain_labels.numpy()
        assert cut_rows.any() and np.all(labels.numpy()[cut_rows] == UNKNOWN)
        assert np.array_equal(features.numpy()[~cut_rows], plain.numpy()[~cut_rows])
        # the batch a run without it trains on, then cut with the batch's own stream (member 0, epoch 0, batch 0)
        batch_seed = tf.random.experimental.stateless_fold_in(tf.constant([settings.seed * 1000, 0], tf.int64), 4)
        expected, expected_labels = cut(plain, plain_labels, batch_seed)
        assert np.array_equal(features.numpy(), expected.numpy())
        assert np.array_equal(labels.numpy(), expected_labels.numpy())


def test_cut_unknowns_settings_are_checked_and_shape_only_the_commands_task():
    for value in (-0.1, 1.0, float("nan")):
        with pytest.raises(PipelineError, match="--cut-unknowns must be in"):
            Settings(cut_unknowns=value)
    for task in ("words", "speakers"):
        with pytest.raises(PipelineError, match=f"--cut-unknowns labels clips unknown.*got --task {task}"):
            Settings(task=task, cut_unknowns=0.05)
    with pytest.raises(PipelineError, match="--cut-unknowns finds each word in its spectrogram; --features wave"):
        Settings(features="wave", cut_unknowns=0.05)
    for task, shaped in (("commands", True), ("words", False), ("speakers", False)):
        assert ("cut_unknowns" in fingerprint(project(TrainConfig, Settings(task=task)))) == shaped
    changed = fingerprint(project(TrainConfig, Settings(cut_unknowns=0.05)))
    assert changed["cut_unknowns"] == 0.05 and changed != fingerprint(project(TrainConfig, Settings()))


NEVER_REVERSED = [LABELS.index(name) for name in (SILENCE_LABEL, *REVERSE_INTO_COMMANDS)]


def test_reversed_clips_are_played_backwards_and_become_unknown_but_never_silence_no_or_on():
    reversal = Reversal.plan(list(LABELS), 0.2)
    labels = tf.constant(np.arange(1200) % len(LABELS), tf.int32)
    x = tf.constant(np.random.default_rng(4).normal(size=(1200, 7, 3)).astype(np.float32))
    reversed_x, new_labels = (t.numpy() for t in reversal(x, labels, SEED))
    flipped = np.abs(reversed_x - x.numpy()).sum(axis=(1, 2)) > 0
    assert np.array_equal(reversed_x[flipped], x.numpy()[flipped][:, ::-1]) and np.array_equal(
        reversed_x[~flipped], x.numpy()[~flipped])
    assert np.all(new_labels[flipped] == UNKNOWN) and np.array_equal(new_labels[~flipped], labels.numpy()[~flipped])
    assert not np.isin(labels.numpy()[flipped], NEVER_REVERSED).any()
    reversible = ~np.isin(labels.numpy(), NEVER_REVERSED)
    assert 0.15 < flipped[reversible].mean() < 0.25  # the share, of the clips that may be reversed
    again = reversal(x, labels, SEED)[0].numpy()
    assert np.array_equal(again, reversed_x) and not np.array_equal(again, reversal(x, labels, SEED + 1)[0])
    waves = tf.constant(np.random.default_rng(5).normal(size=(1200, 50)).astype(np.float32))
    reversed_waves = reversal(waves, labels, SEED)[0].numpy()
    assert np.array_equal(reversed_waves[flipped], waves.numpy()[flipped][:, ::-1])  # the same draw for waveforms
    assert np.array_equal(reversed_waves[~flipped], waves.numpy()[~flipped])
    assert Reversal.plan(list(LABELS), 0.0) is None and Reversal.plan(["a", "b"], 0.2) is None  # off; no unknown


def test_class_weights_balance_the_labels_an_epoch_has_once_reversed_clips_are_unknown():
    known = np.repeat(np.arange(len(LABELS)), [300] * 10 + [200, 100]).astype(np.int32)
    reversal = Reversal.plan(list(LABELS), 0.1)
    weights = balanced_weights(known, reversal)
    expected = reversal.expected_counts(np.bincount(known).astype(np.float64))
    assert expected.sum() == pytest.approx(len(known)) and expected[UNKNOWN] == pytest.approx(100 + 0.1 * 8 * 300)
    weighed = np.array([weights[c] * expected[c] for c in range(len(LABELS))])
    assert np.allclose(weighed, weighed[0])  # every class weighs the same in an epoch
    plain = balanced_weights(known, None)
    assert plain[UNKNOWN] == pytest.approx(len(known) / (len(LABELS) * 100)) and weights[UNKNOWN] < plain[UNKNOWN]
    # no unknown clips of its own (--unknown-share 0): the reversed ones are its clips, and they weigh
    without_unknown = known[known != UNKNOWN]
    weights = balanced_weights(without_unknown, reversal)
    assert weights[UNKNOWN] == pytest.approx(len(without_unknown) / (len(LABELS) * 0.1 * 8 * 300))


def test_an_epoch_reverses_its_clips_before_augmenting_them():
    x = np.random.default_rng(6).normal(size=(40, 9, 5)).astype(np.float16)
    y = (np.arange(40) % len(LABELS)).astype(np.int32)
    settings = Settings(batch_size=40, augment=False)
    reversal = Reversal.plan(list(LABELS), 0.5)
    (features, labels), = list(epoch_dataset(x, y, None, settings, 0, 0, reversal=reversal))
    (plain, plain_labels), = list(epoch_dataset(x, y, None, settings, 0, 0))
    features, labels, plain, plain_labels = (t.numpy() for t in (features, labels, plain, plain_labels))
    reversed_rows = np.abs(features - plain).sum(axis=(1, 2)) > 0  # the same clips in the same order, some reversed
    assert reversed_rows.any() and np.array_equal(features[reversed_rows], plain[reversed_rows][:, ::-1])
    assert np.all(labels[reversed_rows] == UNKNOWN)
    assert np.array_equal(labels[~reversed_rows], plain_labels[~reversed_rows])
    # the same batch, augmented: as if the reversed clips had been cached backwards and labelled unknown
    cached = x.astype(np.float32)
    source = np.array([next(j for j, row in enumerate(cached) if np.array_equal(clip, row)) for clip in plain])
    x_reversed, y_reversed = x.copy(), y.copy()
    x_reversed[source[reversed_rows]] = x[source[reversed_rows]][:, ::-1]
    y_reversed[source[reversed_rows]] = UNKNOWN
    augmented = Settings(batch_size=40)
    (with_it, with_labels), = list(epoch_dataset(x, y, None, augmented, 0, 0, reversal=reversal))
    (expected, expected_labels), = list(epoch_dataset(x_reversed, y_reversed, None, augmented, 0, 0))
    assert np.array_equal(with_it.numpy(), expected.numpy())
    assert np.array_equal(with_labels.numpy(), expected_labels.numpy())


def test_reversed_unknowns_settings_are_checked_and_shape_only_the_commands_task():
    for value in (-0.1, 1.0, float("nan")):
        with pytest.raises(PipelineError, match="--reversed-unknowns must be in"):
            Settings(reversed_unknowns=value)
    for task in ("words", "speakers"):
        with pytest.raises(PipelineError, match=f"--reversed-unknowns labels clips unknown.*got --task {task}"):
            Settings(task=task, reversed_unknowns=0.05)
    for task, shaped in (("commands", True), ("words", False), ("speakers", False)):
        plain = fingerprint(project(TrainConfig, Settings(task=task)))
        assert ("reversed_unknowns" in plain) == shaped
    changed = fingerprint(project(TrainConfig, Settings(reversed_unknowns=0.05)))
    assert changed["reversed_unknowns"] == 0.05 and changed != fingerprint(project(TrainConfig, Settings()))
