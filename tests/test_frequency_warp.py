"""--frequency-warp: vocal tract length perturbation of the training spectrograms."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from competition import PipelineError
from competition.core.config import WARP_BOUNDARY, AugmentConfig, Settings, TrainConfig, fingerprint, project
from competition.train.augmentation import augment_batch, warp_frequencies
from competition.train.trainer import epoch_dataset

BINS = 161
TOP = BINS - 1


def _peaks(bins: list[int], batch: int = 32) -> np.ndarray:
    """Each example: zero everywhere but 1.0 at the given bins, in every frame."""
    x = np.zeros((batch, 5, BINS), np.float32)
    x[:, :, bins] = 1.0
    return x


def _centre(row: np.ndarray, around: int, reach: int) -> float:
    """The weighted centre of the row's mass within reach of a bin."""
    window = np.arange(max(around - reach, 0), min(around + reach + 1, BINS))
    return float((row[window] * window).sum() / row[window].sum())


def test_a_formant_below_the_bend_moves_by_the_drawn_factor_and_the_top_stays_put():
    formant = 50  # 2.5 kHz at 16 kHz, below the bend (0.6 * 0.9 of the band at the least)
    out = warp_frequencies(tf.constant(_peaks([formant, TOP])), 0.1, tf.constant([7, 8], tf.int64)).numpy()
    moved = np.array([_centre(example[0], formant, 8) for example in out])
    factors = moved / formant
    assert (factors > 0.9 - 0.01).all() and (factors < 1.1 + 0.01).all()
    assert (factors < 0.97).any() and (factors > 1.03).any()    # both shorter and longer tracts drawn
    assert np.allclose(out[:, :, TOP], 1.0)                      # the Nyquist bin maps onto itself
    assert np.allclose(out[:, :, 0], 0.0)
    # every frame of an example gets the same factor, and the mass of the peak is kept within a bin's worth
    assert np.allclose(out[:, 0], out[:, -1])
    sums = out[:, 0, :TOP - 20].sum(axis=1)
    assert (np.abs(sums - 1.0) < 0.15).all()


def test_the_map_bends_at_the_boundary_and_never_reads_outside_the_band():
    ramp = np.broadcast_to(np.arange(BINS, dtype=np.float32), (64, 3, BINS)).copy()
    out = warp_frequencies(tf.constant(ramp), 0.1, tf.constant([1, 2], tf.int64)).numpy()[:, 0]
    # each output bin holds the source position it was read from: monotone, from 0 to the top
    assert (np.diff(out, axis=1) > 0).all()
    assert np.allclose(out[:, 0], 0.0) and np.allclose(out[:, -1], TOP)
    below = int(WARP_BOUNDARY * 0.9 * TOP) - 1
    factors = below / out[:, below]
    # linear below the bend: the same factor at half that bin as at it
    assert np.allclose(out[:, below // 2] * factors, below // 2, atol=1e-3)
    assert np.array_equal(warp_frequencies(tf.constant(ramp), 0.0, tf.constant([1, 2], tf.int64)).numpy(), ramp)


def test_warping_is_seeded_and_leaves_the_other_draws_alone():
    x = tf.constant(np.random.default_rng(0).normal(size=(4, 99, BINS)).astype(np.float32))
    bank = tf.constant(np.random.default_rng(1).normal(size=(3, 99, BINS)).astype(np.float32))
    seed = tf.constant([3, 4], tf.int64)
    once = augment_batch(x, bank, AugmentConfig(), seed, max_warp=0.1).numpy()
    assert np.array_equal(once, augment_batch(x, bank, AugmentConfig(), seed, max_warp=0.1).numpy())
    assert not np.array_equal(once, augment_batch(x, bank, AugmentConfig(), seed).numpy())
    # a spectrogram flat in frequency looks the same warped: every other draw is that of a run without the warp
    flat = tf.constant(np.broadcast_to(x.numpy()[:, :, :1], x.shape).copy())
    assert np.allclose(augment_batch(flat, bank, AugmentConfig(), seed, max_warp=0.1).numpy(),
                       augment_batch(flat, bank, AugmentConfig(), seed).numpy(), atol=1e-5)


def test_the_setting_is_in_the_fingerprint_and_refuses_what_it_cannot_do():
    warped = Settings(frequency_warp=0.1)
    assert project(TrainConfig, warped).frequency_warp == 0.1
    assert fingerprint(project(TrainConfig, warped)) != fingerprint(project(TrainConfig, Settings()))
    for bad in (-0.1, 1.0, float("nan")):
        with pytest.raises(PipelineError, match="--frequency-warp must be in"):
            Settings(frequency_warp=bad)
    with pytest.raises(PipelineError, match="--no-augment"):
        Settings(frequency_warp=0.1, augment=False)
    with pytest.raises(PipelineError, match="--features wave"):
        dataclasses.replace(Settings(), frequency_warp=0.1, features="wave")


def test_training_batches_are_warped_when_asked():
    x = np.random.default_rng(5).normal(size=(16, 9, BINS)).astype(np.float16)
    y = np.zeros(16, np.int32)
    still = dataclasses.replace(Settings(batch_size=16), augmentation=AugmentConfig(
        max_stretch=0.0, max_shift_frames=0, noise_probability=0.0, volume_db=0.0, max_time_mask=0, max_freq_mask=0))
    (plain, _), = list(epoch_dataset(x, y, None, still, 0, 0))
    (warped, _), = list(epoch_dataset(x, y, None, dataclasses.replace(still, frequency_warp=0.1), 0, 0))
    assert np.array_equal(np.sort(plain.numpy(), axis=0), np.sort(x.astype(np.float32), axis=0))
    assert not np.allclose(warped.numpy(), plain.numpy(), atol=1e-3)
    assert np.allclose(warped.numpy()[:, :, -1], plain.numpy()[:, :, -1])  # same rows, top bin kept
