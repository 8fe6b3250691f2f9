import dataclasses

import numpy as np
import tensorflow as tf

from competition.train.augmentation import AugmentConfig, augment_batch, stretch_in_time


def _ramp(batch=8, frames=99, bins=4) -> tf.Tensor:
    """Each frame holds its own index, so the output says which source frame landed where."""
    return tf.constant(np.broadcast_to(np.arange(frames, dtype=np.float32)[None, :, None],
                                       (batch, frames, bins)).copy())


def test_stretching_keeps_the_middle_frame_and_changes_the_rate_within_bounds():
    x = _ramp()
    out = stretch_in_time(x, 0.1, tf.constant([1, 2], tf.int64), fill=-1.0).numpy()[:, :, 0]
    middle = 49
    assert (out[:, middle] == middle).all()
    rates = (out[:, 59] - out[:, 39]) / 20.0  # frames well inside the clip whatever the rate
    assert (rates >= 0.9 - 0.05).all() and (rates <= 1.1 + 0.05).all() and rates.std() > 0
    slower = rates < 1.0  # played slower: the source runs out before the edges, which get the fill
    assert (out[slower, 0] >= 0).all()
    faster = rates > 1.02
    assert (out[faster, 0] == -1.0).all() and (out[faster, -1] == -1.0).all()
    assert np.array_equal(stretch_in_time(x, 0.0, tf.constant([1, 2], tf.int64), fill=-1.0).numpy(), x.numpy())


def test_spectrogram_augmentation_is_seeded_and_stretching_leaves_the_other_draws_alone():
    x = tf.constant(np.random.default_rng(0).normal(size=(4, 99, 81)).astype(np.float32))
    bank = tf.constant(np.random.default_rng(1).normal(size=(3, 99, 81)).astype(np.float32))
    seed = tf.constant([3, 4], tf.int64)
    once = augment_batch(x, bank, AugmentConfig(), seed).numpy()
    assert np.array_equal(once, augment_batch(x, bank, AugmentConfig(), seed).numpy())
    assert not np.array_equal(once, augment_batch(x, bank, AugmentConfig(), seed + 1).numpy())
    still = AugmentConfig(max_stretch=0.0, max_shift_frames=0, noise_probability=0.0, volume_db=0.0,
                          max_time_mask=0, max_freq_mask=0)
    assert np.array_equal(augment_batch(x, bank, still, seed).numpy(), x.numpy())
    # A clip that is the same in every frame looks the same stretched, away from the edges; so
    # turning the stretch on must leave the volume draw as it was.
    steady = tf.constant(np.broadcast_to(x.numpy()[:, :1, :], x.shape).copy())
    volume = dataclasses.replace(still, volume_db=6.0)
    without = augment_batch(steady, bank, volume, seed).numpy()
    stretched = augment_batch(steady, bank, dataclasses.replace(volume, max_stretch=0.1), seed).numpy()
    assert not np.array_equal(without, steady.numpy())
    assert np.array_equal(stretched[:, 10:89], without[:, 10:89])
