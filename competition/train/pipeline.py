"""The input pipeline: one epoch of shuffled, augmented batches read from a memory-mapped cache,
a pure function of (seed, member, epoch) so that a resumed run repeats it exactly."""
from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from ..core.config import TrainConfig
from .augmentation import augment_batch


def epoch_order(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Every usable row once, shuffled; rows with a negative label (unreadable clips) are never drawn."""
    usable = np.flatnonzero(y >= 0)
    return usable[rng.permutation(len(usable))]


def epoch_dataset(x: np.ndarray, y: np.ndarray, noise: tf.Tensor | None, config: TrainConfig,
                  member: int, epoch: int) -> tf.data.Dataset:
    """One epoch of (features, labels) batches. `x` may be a memory map of the cache: parallel map
    calls read the next batches' rows while the model trains on the current one."""
    order = epoch_order(y, np.random.default_rng([config.seed, member, epoch]))
    batches = tf.data.Dataset.from_tensor_slices(order).batch(config.batch_size).enumerate()
    row_shape = tuple(x.shape[1:])

    def read(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(x[rows], dtype=np.float32), y[rows]

    def load(batch_number, rows):
        features, labels = tf.numpy_function(read, [rows], (tf.float32, tf.int32), stateful=False)
        features = tf.ensure_shape(features, (None, *row_shape))
        seed = tf.stack([tf.constant(config.seed * 1000 + member, tf.int64), epoch * 1_000_000 + batch_number])
        labels = tf.ensure_shape(labels, (None,))
        if config.augment:
            features = augment_batch(features, noise, config.augmentation, seed, config.audio.step_samples,
                                     config.spec_masks)
        return features, labels

    # A batch takes a few milliseconds to read and augment against a training step of a tenth of
    # a second or more: half the cores are plenty, and the model keeps the rest.
    options = tf.data.Options()
    options.autotune.cpu_budget = max(1, (os.cpu_count() or 2) // 2)
    # Under --strategy multi-worker each worker builds this whole dataset (there are no files to
    # split) and keeps its share of every batch: the DATA policy, named so that TensorFlow does not
    # first try the FILE policy and log its failure. Without a multi-worker strategy it does nothing.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return batches.map(load, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE).with_options(options)
