"""The recipe's training aids: mixup of batches, the moving average of the weights, pseudo-labels and
reversed words as unknown."""
import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from competition import PipelineError
from competition.core.config import Settings, TrainConfig, fingerprint, project
from competition.core.labels import LABELS, REVERSE_INTO_COMMANDS, SILENCE_LABEL, UNKNOWN_LABEL
from competition.train.augmentation import Reversal, mixup
from competition.train.averaging import WARM_UP_UPDATES, WeightAverage, momentum_for
from competition.train.pseudo import NOT_TRAINED, PSEUDO_SHARE, StackedRows, pool_table, pseudo_labels
from competition.train.sampling import epoch_order
from competition.train.trainer import _balanced_weights, _new_model, epoch_dataset

SEED = tf.constant([5, 6], tf.int64)
WEIGHTS = tf.constant([1.0, 2.0, 4.0])


def _spectrograms(batch=16, seed=0) -> tf.Tensor:
    return tf.constant(np.random.default_rng(seed).normal(size=(batch, 9, 5)).astype(np.float32))


def _share_of_own_label(soft: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return soft[np.arange(len(labels)), labels]


def test_mixup_mixes_each_clip_with_the_next_by_one_share_in_power_labels_and_weights():
    x = _spectrograms(batch=15)
    labels = tf.constant(np.arange(15) % 3, tf.int32)  # neighbours always differ, the first and last too
    mixed, soft, weight = (t.numpy() for t in mixup(x, labels, WEIGHTS, 0.4, SEED))
    share = _share_of_own_label(soft, labels.numpy())
    partner = np.roll(labels.numpy(), 1)
    assert np.allclose(soft.sum(axis=1), 1.0) and np.allclose(soft[np.arange(15), partner], 1.0 - share)
    assert 0.0 <= share.min() and share.max() <= 1.0 and share.std() > 0.05
    expected_power = share[:, None, None] * np.exp(x.numpy()) + (1 - share[:, None, None]) * np.exp(np.roll(x, 1, 0))
    assert np.allclose(np.exp(mixed), expected_power, rtol=1e-4)
    assert np.allclose(weight, share * WEIGHTS.numpy()[labels.numpy()] + (1 - share) * WEIGHTS.numpy()[partner])
    again = mixup(x, labels, WEIGHTS, 0.4, SEED)[0].numpy()
    assert np.array_equal(mixed, again) and not np.array_equal(mixed, mixup(x, labels, WEIGHTS, 0.4, SEED + 1)[0])


def test_mixup_of_waveforms_adds_samples_and_a_small_alpha_keeps_clips_nearly_whole():
    waves = tf.constant(np.random.default_rng(1).normal(size=(64, 100)).astype(np.float32))
    labels = tf.constant(np.arange(64) % 2, tf.int32)
    mixed, soft, _ = (t.numpy() for t in mixup(waves, labels, WEIGHTS, 0.1, SEED))
    share = _share_of_own_label(soft, labels.numpy())[:, None]
    assert np.allclose(mixed, share * waves.numpy() + (1 - share) * np.roll(waves.numpy(), 1, 0), atol=1e-5)
    assert np.mean((share < 0.1) | (share > 0.9)) > 0.6  # Beta(0.1, 0.1) puts most shares near 0 or 1


def test_mixup_batches_come_with_soft_labels_and_weights_and_need_the_class_weights():
    x = np.random.default_rng(2).normal(size=(10, 9, 5)).astype(np.float16)
    y = np.arange(10, dtype=np.int32) % 3
    settings = Settings(batch_size=4, augment=False, mixup=0.3)
    batches = list(epoch_dataset(x, y, None, settings, member=0, epoch=0, class_weights=WEIGHTS.numpy()))
    assert [len(b) for b in batches] == [3, 3, 3]  # (features, soft labels, weights) each
    assert batches[0][1].shape == (4, 3) and np.allclose(batches[0][1].numpy().sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="class weights"):
        epoch_dataset(x, y, None, settings, member=0, epoch=0)


def test_label_smoothing_spreads_a_share_of_each_label_evenly_and_keeps_each_clips_class_weight():
    x = np.random.default_rng(3).normal(size=(8, 9, 5)).astype(np.float16)
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1], np.int32)
    settings = Settings(batch_size=8, augment=False, label_smoothing=0.3)
    (features, soft, weight), = list(epoch_dataset(x, y, None, settings, member=0, epoch=0,
                                                   class_weights=WEIGHTS.numpy()))
    first_values = x.astype(np.float32)[:, 0, 0]  # the batch is shuffled: find each clip by its first value
    labels = np.array([y[np.flatnonzero(first_values == v)[0]] for v in features.numpy()[:, 0, 0]])
    assert sorted(labels) == sorted(y) and np.allclose(soft.numpy().sum(axis=1), 1.0)
    assert np.allclose(soft.numpy()[np.arange(8), labels], 0.7 + 0.1) and np.allclose(soft.numpy().min(axis=1), 0.1)
    assert np.allclose(weight.numpy(), WEIGHTS.numpy()[labels])
    with pytest.raises(PipelineError, match="--label-smoothing"):
        Settings(label_smoothing=1.0)


def _tiny_model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((3,))
    x = keras.layers.Dense(4)(inputs)
    x = keras.layers.BatchNormalization()(x)
    outputs = keras.layers.Dense(2)(keras.layers.Dropout(0.5)(x))
    return keras.Model(inputs, outputs)


def test_the_average_starts_at_the_weights_warms_up_and_then_moves_by_its_momentum():
    model, averaged = _tiny_model(0), _tiny_model(1)
    average = WeightAverage(model, averaged, momentum=0.9)
    average.start_from(model)
    start = [w.numpy().copy() for w in model.weights if "float" in str(w.dtype)]
    assert all(np.array_equal(a.numpy(), s) for (a, _), s in zip(average.pairs, start))
    for weight in model.weights:
        if "float" in str(weight.dtype):
            weight.assign(weight.numpy() + 1.0)
    average.update()  # warm-up: momentum (1 + 1) / (10 + 1), below 0.9
    first = 2.0 / (WARM_UP_UPDATES + 1)
    assert all(np.allclose(a.numpy(), s + (1 - first)) for (a, _), s in zip(average.pairs, start))
    for _ in range(200):
        average.update()
    assert all(np.allclose(a.numpy(), s + 1.0, atol=1e-5) for (a, _), s in zip(average.pairs, start))
    assert average.update_count == 201
    assert len(average.pairs) == len(model.weights) == 8  # two dense layers' and batch norm's four
    assert [a.name for a, _ in average.pairs].count("moving_mean") == 1  # statistics averaged with the weights


def test_an_average_of_another_architecture_is_refused():
    inputs = keras.Input((3,))
    wider = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.BatchNormalization()(keras.layers.Dense(5)(inputs))))
    with pytest.raises(PipelineError, match="expected the same name and shape"):
        WeightAverage(_tiny_model(0), wider, momentum=0.9)  # the same weights by name, other shapes
    shallower = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dense(4)(inputs)))
    with pytest.raises(ValueError):
        WeightAverage(_tiny_model(0), shallower, momentum=0.9)  # fewer weights


def test_momentum_follows_the_time_constant_in_epochs_and_a_bad_one_is_refused():
    assert momentum_for(2.0, 100) == pytest.approx(0.995)
    assert momentum_for(1.0, 1000) == pytest.approx(0.999)
    with pytest.raises(PipelineError, match="momentum"):
        WeightAverage(_tiny_model(0), _tiny_model(1), momentum=1.0)
    with pytest.raises(PipelineError, match="--average-epochs"):
        Settings(average_epochs=-1)


def test_weight_decay_trains_with_adamw_and_shrinks_weights_that_no_gradient_holds():
    config = project(TrainConfig, Settings(weight_decay=0.3, epochs=1, learning_rate=0.01))
    model = _new_model(config, member=0, n_train=64, n_classes=12)
    assert isinstance(model.optimizer, keras.optimizers.AdamW) and model.optimizer.weight_decay == pytest.approx(0.3)
    kernel = next(v for v in model.trainable_variables if "conv2d" in v.path and "kernel" in v.path)
    before = kernel.numpy().copy()
    assert np.abs(before).max() > 0.01  # initialised weights that decay can visibly shrink
    model.optimizer.apply_gradients([(tf.zeros_like(v), v) for v in model.trainable_variables])
    assert np.allclose(kernel.numpy(), before * (1 - 0.3 * 0.01), rtol=1e-4)  # decay alone: lr x decay per step
    plain = _new_model(project(TrainConfig, Settings()), member=0, n_train=64, n_classes=12)
    assert type(plain.optimizer) is keras.optimizers.Adam  # the default keeps Adam's arithmetic
    assert fingerprint(config) != fingerprint(project(TrainConfig, Settings(epochs=1, learning_rate=0.01)))
    with pytest.raises(PipelineError, match="--weight-decay"):
        Settings(weight_decay=-0.1)


def test_stacked_rows_read_like_the_arrays_joined_whatever_the_order_and_slice(tmp_path):
    first = np.arange(24, dtype=np.float16).reshape(4, 3, 2)
    np.save(tmp_path / "second.npy", -np.arange(30, dtype=np.float16).reshape(5, 3, 2))
    second = np.load(tmp_path / "second.npy", mmap_mode="r")  # a memory map, as the test cache is read
    stacked, joined = StackedRows(first, second), np.concatenate([first, second]).astype(np.float32)
    assert stacked.shape == joined.shape and len(stacked) == 9
    rows = np.array([8, 0, 4, 3, 4, 7])  # across the seam, repeated, unsorted
    assert np.array_equal(stacked[rows], joined[rows]) and stacked[rows].dtype == np.float32
    assert np.array_equal(stacked[2:7], joined[2:7]) and np.array_equal(stacked[7:20], joined[7:])


def test_pseudo_labels_keep_only_readable_clips_that_reach_the_confidence():
    probabilities = np.array([[0.96, 0.04], [0.3, 0.7], [0.02, 0.98], [0.99, 0.01]], np.float32)
    readable = np.array([True, True, True, False])
    assert pseudo_labels(probabilities, readable, 0.95).tolist() == [0, NOT_TRAINED, 1, NOT_TRAINED]
    assert pseudo_labels(probabilities, readable, 0.7).tolist() == [0, 1, 1, NOT_TRAINED]


def test_the_pool_table_names_each_clip_by_its_row_of_the_feature_table():
    """Validation's unreadable clips are left out of the pool; the rest keep their cache rows."""
    validation = pd.DataFrame({"path": ["a.wav", "b.wav", "c.wav", "d.wav"], "readable": [True, False, True, True]})
    test = pd.DataFrame({"path": ["t0.wav", "t1.wav"], "readable": [True, False]})
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.99, 0.01], [0.5, 0.5]], np.float32)
    labels = pseudo_labels(probabilities, np.array([True, True, True, True, False]), 0.8)
    table = pool_table({"validation": validation[validation["readable"]], "test": test}, probabilities, labels,
                       ["yes", "no"])
    assert table["row"].tolist() == [0, 2, 3, 0, 1] and table["path"].tolist() == ["a.wav", "c.wav", "d.wav",
                                                                                  "t0.wav", "t1.wav"]
    assert table["label"].tolist() == ["yes", "no", "yes", "yes", "yes"]
    assert table["trained"].tolist() == [True, True, False, True, False]


def test_an_epoch_with_pseudo_labels_keeps_its_length_and_draws_its_share_of_them():
    y = np.concatenate([np.where(np.arange(100) % 10 == 3, -1, 1), np.full(50, 2), np.full(50, NOT_TRAINED)])
    y = y.astype(np.int32)  # 90 usable labelled rows, then 50 pseudo-labelled and 50 untrained pool rows
    order = epoch_order(y, 100, np.random.default_rng(0))
    pseudo = order[order >= 100]
    assert len(order) == 90 and len(set(order)) == 90 and (y[order] >= 0).all()
    assert len(pseudo) == round(PSEUDO_SHARE * 90) and (pseudo < 150).all()  # never an untrained pool row
    next_epoch = epoch_order(y, 100, np.random.default_rng(1))
    assert set(pseudo) != set(next_epoch[next_epoch >= 100])  # drawn afresh each epoch
    few = y.copy()
    few[105:150] = NOT_TRAINED  # fewer confident clips than the share: all of them, and the epoch still 90 long
    order = epoch_order(few, 100, np.random.default_rng(0))
    assert len(order) == 90 and sorted(order[order >= 100]) == list(range(100, 105))
    # without pseudo-labels, every usable row once: the order a run without them always had
    plain = epoch_order(y[:100], None, np.random.default_rng([3, 0, 1]))
    assert np.array_equal(plain, np.flatnonzero(y[:100] >= 0)[np.random.default_rng([3, 0, 1]).permutation(90)])


def test_pseudo_label_settings_are_checked_and_shape_only_the_commands_task():
    with pytest.raises(PipelineError, match="--pseudo-label-epoch must be at least 0"):
        Settings(pseudo_label_epoch=-1)
    with pytest.raises(PipelineError, match="--pseudo-label-confidence must be in"):
        Settings(pseudo_label_confidence=0.0)
    for wrong, message in (({"task": "words"}, "is for --task commands; got --task words"),
                           ({"epochs": 20}, "must be less than --epochs \\(20\\)"),
                           ({"strategy": "multi-worker"}, "only the chief")):
        with pytest.raises(PipelineError, match=message):
            Settings(pseudo_label_epoch=20, **wrong)
    for task, shaped in (("commands", True), ("words", False), ("speakers", False)):
        plain, changed = (fingerprint(project(TrainConfig, Settings(task=task, pseudo_label_confidence=confidence)))
                          for confidence in (0.95, 0.9))
        assert (plain != changed) == shaped and ("pseudo_label_epoch" in plain) == shaped
    assert fingerprint(project(TrainConfig, Settings(pseudo_label_epoch=20)))["pseudo_label_epoch"] == 20


UNKNOWN = LABELS.index(UNKNOWN_LABEL)
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
    weights = _balanced_weights(known, reversal)
    expected = reversal.expected_counts(np.bincount(known).astype(np.float64))
    assert expected.sum() == pytest.approx(len(known)) and expected[UNKNOWN] == pytest.approx(100 + 0.1 * 8 * 300)
    weighed = np.array([weights[c] * expected[c] for c in range(len(LABELS))])
    assert np.allclose(weighed, weighed[0])  # every class weighs the same in an epoch
    plain = _balanced_weights(known, None)
    assert plain[UNKNOWN] == pytest.approx(len(known) / (len(LABELS) * 100)) and weights[UNKNOWN] < plain[UNKNOWN]
    # no unknown clips of its own (--unknown-share 0): the reversed ones are its clips, and they weigh
    without_unknown = known[known != UNKNOWN]
    weights = _balanced_weights(without_unknown, reversal)
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
