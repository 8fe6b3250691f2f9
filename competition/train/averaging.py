"""Weight averaging: an exponential moving average of every weight, updated after each training step.

The weights a step leaves behind are one noisy draw from where the optimiser wanders; their
average over the last epoch or two lies nearer the middle of that region and generalises better
(Polyak averaging; the EMA of timm and of the keyword-spotting recipes). It costs one multiply-add
per weight and step, and nothing at test time: the averaged model is the one validated, kept and
predicted with. Batch normalisation's moving statistics are averaged with the weights they go with.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from .. import PipelineError

# An average over few steps is mostly the random initial weights: the momentum starts low and
# rises to its set value, as in tf.train.ExponentialMovingAverage with num_updates.
WARM_UP_UPDATES = 10


def momentum_for(average_epochs: float, steps_per_epoch: int) -> float:
    """The per-step momentum whose time constant is `average_epochs` epochs."""
    return 1.0 - 1.0 / max(average_epochs * steps_per_epoch, 1.0)


def _averaged_pairs(averaged: keras.Model, model: keras.Model) -> list[tuple[keras.Variable, keras.Variable]]:
    # Keras's weights leave out dropout's seed-generator states: every weight is a float to average
    pairs = list(zip(averaged.weights, model.weights, strict=True))
    for a, v in pairs:
        # the same name (kernel, gamma, moving_mean, ...) and shape, in the same place of both models
        if a.name != v.name or tuple(a.shape) != tuple(v.shape):
            raise PipelineError(f"weight averaging: the average's {a.path} {tuple(a.shape)} is paired with the "
                                f"trained {v.path} {tuple(v.shape)}; expected the same name and shape")
    return pairs


class WeightAverage:
    """`averaged`: a model of the same architecture as `model`, whose weights become the average.
    `updates`: how many steps the average already holds (a resumed run's)."""

    def __init__(self, model: keras.Model, averaged: keras.Model, momentum: float, updates: int = 0):
        if not 0.0 <= momentum < 1.0:
            raise PipelineError(f"weight averaging needs a momentum in [0, 1); got {momentum}")
        self.averaged = averaged
        self.pairs = _averaged_pairs(averaged, model)
        self.momentum = momentum
        self.updates = tf.Variable(updates, dtype=tf.int64, trainable=False)
        self._update = tf.function(self._step)

    def _step(self) -> None:
        self.updates.assign_add(1)
        n = tf.cast(self.updates, tf.float32)
        momentum = tf.minimum(self.momentum, (1.0 + n) / (WARM_UP_UPDATES + n))
        for average, weight in self.pairs:
            average.assign(momentum * average + (1.0 - momentum) * weight)

    def update(self) -> None:
        self._update()

    @property
    def update_count(self) -> int:
        return int(self.updates.numpy())

    def start_from(self, model: keras.Model) -> None:
        """A fresh average: the model's current weights."""
        for average, weight in self.pairs:
            average.assign(weight)
        self.updates.assign(0)


class AverageEveryStep(keras.callbacks.Callback):
    """Updates the average after each batch of model.fit."""

    def __init__(self, average: WeightAverage):
        super().__init__()
        self.average = average

    def on_train_batch_end(self, batch, logs=None):
        self.average.update()

