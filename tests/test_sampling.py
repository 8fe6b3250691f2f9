"""--class-sampling: the epoch's rows drawn class by class, and the class weights that go with them."""
import numpy as np
import pytest

from competition import PipelineError
from competition.core.config import BALANCED, CLASS_WEIGHTS, Settings, TrainConfig, fingerprint, project
from competition.core.labels import LABELS, UNKNOWN_LABEL
from competition.train.augmentation import Reversal
from competition.train.pseudo import NOT_TRAINED, PSEUDO_SHARE
from competition.train.sampling import balanced_rows, epoch_order
from competition.train.trainer import _balanced_weights, epoch_dataset

UNKNOWN = LABELS.index(UNKNOWN_LABEL)


def _skewed_labels() -> np.ndarray:
    """60 rows of class 0, 20 of class 1, 10 of class 2, 5 unreadable, interleaved."""
    y = np.array([0] * 60 + [1] * 20 + [2] * 10 + [-1] * 5, np.int32)
    return y[np.random.default_rng(9).permutation(len(y))]


def test_a_balanced_epoch_draws_every_class_equally_often_and_keeps_its_length():
    y = _skewed_labels()
    order = epoch_order(y, None, np.random.default_rng(0), BALANCED)
    assert len(order) == 90 and (y[order] >= 0).all()
    assert np.bincount(y[order]).tolist() == [30, 30, 30]
    rare, common = order[y[order] == 2], order[y[order] == 0]
    assert len(set(rare)) == 10 and np.bincount(rare).max() == 3  # each rare clip thrice, none more
    assert len(set(common)) == 30  # the common class: 30 of its 60 rows, none twice
    next_epoch = epoch_order(y, None, np.random.default_rng(1), BALANCED)
    assert set(common) != set(next_epoch[y[next_epoch] == 0])  # another half of it the next epoch
    assert np.array_equal(order, epoch_order(y, None, np.random.default_rng(0), BALANCED))
    # by weights (the default): every usable row once
    plain = epoch_order(y, None, np.random.default_rng(0), CLASS_WEIGHTS)
    assert sorted(plain) == sorted(np.flatnonzero(y >= 0))


def test_balanced_rows_use_every_clip_of_a_class_before_any_comes_again_and_share_out_the_remainder():
    rows = np.arange(100, 107)
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    drawn = balanced_rows(rows, labels, 11, np.random.default_rng(3))  # 5 and 6, or 6 and 5
    assert sorted(np.bincount(labels[drawn - 100]).tolist()) == [5, 6]
    zeros = drawn[labels[drawn - 100] == 0]
    assert sorted(zeros[:3]) == [100, 101, 102]  # the first round holds each clip once
    # an epoch shorter than the number of classes: some classes get no row; none, or no rows: nothing
    short = balanced_rows(rows, labels, 1, np.random.default_rng(3))
    assert len(short) == 1 and short[0] in rows
    assert len(balanced_rows(rows, labels, 0, np.random.default_rng(3))) == 0
    assert len(balanced_rows(rows[:0], labels[:0], 5, np.random.default_rng(3))) == 0


def test_a_balanced_epoch_with_pseudo_labels_balances_the_labelled_rows_and_keeps_the_pseudo_share():
    y = np.concatenate([np.array([0] * 60 + [1] * 30, np.int32), np.full(50, 2), np.full(50, NOT_TRAINED)])
    y = y.astype(np.int32)  # 90 labelled rows, then 50 pseudo-labelled and 50 untrained pool rows
    order = epoch_order(y, 90, np.random.default_rng(0), BALANCED)
    real, pseudo = order[order < 90], order[order >= 90]
    assert len(order) == 90 and len(pseudo) == round(PSEUDO_SHARE * 90) and (pseudo < 140).all()
    assert np.bincount(y[real]).tolist() == [len(real) // 2, len(real) - len(real) // 2]


def test_balanced_sampling_weighs_every_clip_the_same_unless_clips_become_unknown():
    known = np.repeat(np.arange(len(LABELS)), [300] * 10 + [200, 100]).astype(np.int32)
    weights = _balanced_weights(known, None, None, BALANCED)
    assert sorted(weights) == list(range(len(LABELS))) and set(weights.values()) == {1.0}
    # reversed clips move a share of the commands' draws to unknown: weigh each class the same again
    reversal = Reversal.plan(list(LABELS), 0.1)
    weights = _balanced_weights(known, reversal, None, BALANCED)
    drawn = reversal.expected_counts(np.full(len(LABELS), len(known) / len(LABELS)))
    weighed = np.array([weights[c] * drawn[c] for c in range(len(LABELS))])
    assert np.allclose(weighed, weighed[0]) and weights[UNKNOWN] < 1.0
    assert _balanced_weights(known, None, None, CLASS_WEIGHTS)[UNKNOWN] == pytest.approx(len(known) / (12 * 100))


def test_an_epochs_batches_follow_the_class_sampling_and_the_setting_shapes_the_training():
    x = np.random.default_rng(6).normal(size=(48, 9, 5)).astype(np.float16)
    y = np.array([0] * 36 + [1] * 12, np.int32)
    balanced = Settings(batch_size=48, augment=False, class_sampling=BALANCED)
    (_, labels), = list(epoch_dataset(x, y, None, balanced, 0, 0))
    assert np.bincount(labels.numpy()).tolist() == [24, 24]
    (_, plain), = list(epoch_dataset(x, y, None, Settings(batch_size=48, augment=False), 0, 0))
    assert np.bincount(plain.numpy()).tolist() == [36, 12]
    assert fingerprint(project(TrainConfig, balanced)) != fingerprint(project(TrainConfig, Settings()))
    with pytest.raises(PipelineError, match="class.sampling"):
        Settings(class_sampling="oversample")
