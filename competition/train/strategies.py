"""Where training runs: one device, a mirrored strategy over a machine's devices, or several machines
(multi-worker, with its own training step), and what the workers must agree on to stay in step."""
from __future__ import annotations

import logging
import shutil

import keras
import numpy as np
import tensorflow as tf

from .. import PipelineError
from ..core.cluster import MULTI_WORKER, worker_task
from ..core.config import TrainConfig
from ..core.io import atomic_path

log = logging.getLogger(__name__)


def distribution(config: TrainConfig) -> tf.distribute.Strategy:
    """The default (one device) strategy; one replica per GPU (per CPU device when there is no
    GPU) with --strategy mirrored; with --strategy multi-worker, the same over the machines of
    TF_CONFIG, each batch of --batch-size split between all their replicas."""
    if config.strategy == "default":
        return tf.distribute.get_strategy()
    if config.strategy == MULTI_WORKER:
        return _multi_worker_strategy()
    devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
        [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)


_MULTI_WORKER_STRATEGY: list[tf.distribute.Strategy] = []  # TensorFlow allows one per process


def _multi_worker_strategy() -> tf.distribute.Strategy:
    task = worker_task()  # a one-line error naming what TF_CONFIG lacks, before TensorFlow reads it
    if not _MULTI_WORKER_STRATEGY:
        try:
            _MULTI_WORKER_STRATEGY.append(tf.distribute.MultiWorkerMirroredStrategy())
        except (RuntimeError, ValueError) as error:
            raise PipelineError(f"--strategy {MULTI_WORKER} could not start on {task.describe()} of TF_CONFIG "
                                f"({error})") from error
        log.info("%s, the cluster: %s", task.describe(), ", ".join(task.workers))
    return _MULTI_WORKER_STRATEGY[0]


def mean_over_workers(strategy: tf.distribute.Strategy, values: list[float]) -> np.ndarray:
    """The mean of `values` over every replica of the cluster, the same on every worker. Only
    under multi-worker, where each worker decides alone what all must do in step (stop early,
    resume from an epoch); elsewhere the values themselves."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return np.asarray(values, np.float64)
    padded = np.zeros(4)  # one shape, one trace; collectives run eagerly are slow and TensorFlow warns so
    padded[:len(values)] = values
    return _mean_over_replicas(strategy, tf.constant(padded, tf.float64)).numpy()[:len(values)]


@tf.function
def _mean_over_replicas(strategy: tf.distribute.Strategy, value: tf.Tensor) -> tf.Tensor:
    per_replica = strategy.run(tf.identity, args=(value,))
    return strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)


def leave_cluster() -> None:
    """A multi-worker run's last step on every worker that trained: wait until all are here.
    The chief predicts after training; a worker that exits meanwhile stops the heartbeats the
    chief's TensorFlow watches, which then logs the cluster as failed."""
    if _MULTI_WORKER_STRATEGY:
        mean_over_workers(_MULTI_WORKER_STRATEGY[0], [0.0])


def agreed_start(strategy: tf.distribute.Strategy, state: dict, config: TrainConfig) -> dict:
    """The checkpoint's state if every worker stopped after the same epoch, else a fresh start:
    workers that resumed from different epochs would wait on each other's steps forever."""
    position = state["member"] * (config.epochs + 1) + state["epoch"]
    mean, mean_square = mean_over_workers(strategy, [position, position * position])
    if mean_square - mean * mean == 0.0:
        return state
    log.warning("the workers' checkpoints stop after different epochs; every worker trains from the start")
    return {"member": 0, "epoch": 0, "history": []}


class MultiWorkerEpoch:
    """Epochs under MultiWorkerMirroredStrategy, each returning what model.fit's history holds.

    Keras 3's fit cannot run under this strategy (keras-team/keras#20585: it averages whole input
    batches and scalar metrics over the workers along an axis they lack), so the step is written
    out: the class-weighted loss averaged over the global batch, as Keras computes it, the
    compiled optimizer (which sums the gradients of every replica of every worker), and loss and
    accuracy summed over all of them. The step is traced once, for batches of any length.
    """

    def __init__(self, model: keras.Model, strategy: tf.distribute.Strategy, class_weight: dict[int, float]):
        self.model, self.strategy = model, strategy
        self.weights = tf.constant([class_weight.get(c, 0.0) for c in range(model.output_shape[-1])], tf.float32)
        if not model.optimizer.built:  # a model restored from a checkpoint brings its slots
            with strategy.scope():
                model.optimizer.build(model.trainable_variables)  # its slots mirrored, before the first step
        self.step = None

    def _replica_step(self, x, y):
        model = self.model
        with tf.GradientTape() as tape:
            p = model(x, training=True)
            per_clip = keras.losses.sparse_categorical_crossentropy(y, p) * tf.gather(self.weights, y)
            loss = tf.nn.compute_average_loss(per_clip)
        model.optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(p, -1, output_type=tf.int32), y), tf.float32))
        return tf.stack([tf.reduce_sum(per_clip), correct, tf.cast(tf.size(y), tf.float32)])

    def __call__(self, dataset: tf.data.Dataset) -> dict[str, list[float]]:
        batches = self.strategy.experimental_distribute_dataset(dataset)
        if self.step is None:
            def step(batch):
                per_replica = self.strategy.run(self._replica_step, args=batch)
                return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
            self.step = tf.function(step, input_signature=[batches.element_spec])
        totals = np.zeros(3)
        for batch in batches:
            totals += self.step(batch).numpy()
        return {"loss": [totals[0] / max(totals[2], 1.0)], "accuracy": [totals[1] / max(totals[2], 1.0)]}


def save_member(model: keras.Model, path, chief: bool) -> None:
    """The chief writes the member predict reads. The other workers save too, as TensorFlow
    documents for multi-worker training, but to a temporary folder of their own that is removed
    at once: nothing they write can stand in for the chief's model."""
    if chief:
        with atomic_path(path) as temp:
            model.save(temp)
        return
    temp_dir = path.parent / f".worker-{worker_task().index}-temp"
    temp_dir.mkdir(parents=True, exist_ok=True)
    try:
        model.save(temp_dir / path.name)
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
