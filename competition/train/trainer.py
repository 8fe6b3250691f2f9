"""Stage 4, train: fit registry models on cached features, keep each one's best-on-validation
checkpoint, then calibrate the task's decision on held-out speakers and words."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.metrics import confusion_matrix

from .. import PipelineError
from ..core.cluster import MULTI_WORKER, is_chief, worker_task
from ..core.config import BALANCED, CLASS_WEIGHTS, PSEUDO_LABEL_TASKS, TrainConfig
from ..core.io import atomic_path, atomic_write_json
from ..core.labels import write_labels
from ..core.metrics import balanced_accuracy, confused_pairs
from ..core.paths import Paths
from ..inference.config import InferenceConfig
from ..inference.engines import KerasMember, get_engine
from ..inference.ensemble import predict_probabilities, tta_shifts
from ..models import build_model
from ..tasks import HELD_OUT_SPEAKERS, get_task
from ..tasks.verification import Verification, sampled_rows
from .augmentation import Cut, Reversal, augment_batch, mel_positions, mixup, smooth_labels
from .averaging import AverageEveryStep, WeightAverage, momentum_for
from .pseudo import PSEUDO_SHARE, StackedRows, pool_table, pseudo_labels
from .sampling import epoch_order

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def check_cache_shape(shape: tuple[int, ...], config: TrainConfig, where) -> None:
    if tuple(shape) != config.input_shape:
        raise PipelineError(f"{where}: holds features of shape {tuple(shape)}, but --features {config.features} "
                            f"needs {config.input_shape}; run --stage features with the same flags (or --stage all)")


def load_split(paths: Paths, config: TrainConfig, split: str, labels: list[str],
               in_memory: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Features and class numbers of the readable clips of a split. With in_memory=False the
    features stay a memory map of the cache and the labels cover every row (read them through
    `readable_rows`)."""
    features, table = cached_split(paths, config, split)
    lookup = {label: i for i, label in enumerate(labels)}
    usable = table["readable"].to_numpy(bool)
    classes = table["label"].map(lookup).fillna(-1).to_numpy(np.int32)
    if (unknown := usable & (classes < 0)).any():
        raise PipelineError(f"{paths.feature_table(split)}: labels outside {', '.join(labels)}: "
                            f"{sorted(set(table.loc[unknown, 'label'].astype(str)))[:5]}; rerun --stage prepare")
    if not in_memory:
        return features, np.where(usable, classes, -1).astype(np.int32)
    return np.asarray(features[usable]), classes[usable]


def cached_split(paths: Paths, config: TrainConfig, split: str) -> tuple[np.ndarray, pd.DataFrame]:
    """A split's feature cache (a memory map) and its table, checked against each other and the config."""
    features = np.load(paths.feature_cache(split), mmap_mode="r")
    check_cache_shape(features.shape[1:], config, paths.feature_cache(split))
    table = read_feature_table(paths, split)
    if len(table) != len(features):
        raise PipelineError(
            f"{paths.features_dir}: {split}.npy has {len(features)} rows but {split}.csv has "
            f"{len(table)}; rerun --stage features"
        )
    return features, table


def read_feature_table(paths: Paths, split: str) -> pd.DataFrame:
    # as text: a speaker id of digits alone ("00176480") must stay the label it is
    return pd.read_csv(paths.feature_table(split), keep_default_na=False,
                       dtype={"label": str, "speaker": str, "word": str})


def readable_rows(y: np.ndarray) -> np.ndarray:
    return np.flatnonzero(y >= 0)


def soft_labels(config: TrainConfig) -> bool:
    """Whether training reads probability rows as labels (mixup, label smoothing), each clip with
    its own class weight, instead of class numbers and Keras' class weights."""
    return config.mixup > 0 or config.label_smoothing > 0


def epoch_dataset(x: np.ndarray, y: np.ndarray, noise: tf.Tensor | None, config: TrainConfig,
                  member: int, epoch: int, class_weights: np.ndarray | None = None,
                  labelled: int | None = None, reversal: Reversal | None = None,
                  cut: Cut | None = None) -> tf.data.Dataset:
    """One epoch of shuffled, augmented batches: a pure function of (seed, member, epoch).
    Under --mixup or --label-smoothing a batch is (features, probability rows as labels, class
    weights per clip, mixed as the labels are), and `class_weights` (one per class) is required;
    otherwise (features, labels).

    `x` may be a memory map of the cache: parallel map calls read the next batches' rows while
    the model trains on the current one. Rows whose label is negative (unreadable clips) are
    never drawn. `labelled`: under --pseudo-label-epoch, the number of leading rows with real labels
    (the rest are pseudo-labelled; see train.pseudo). `reversal` (--reversed-unknowns): which clips
    may be played backwards as unknown words; drawn before the augmentation, which then applies to them.
    `cut` (--cut-unknowns): which clips may be cut to their word's start as unknown; drawn after the
    augmentation, on the labels the reversal left.
    """
    order = epoch_order(y, labelled, np.random.default_rng([config.seed, member, epoch]), config.class_sampling)
    batches = tf.data.Dataset.from_tensor_slices(order).batch(config.batch_size).enumerate()
    row_shape = tuple(x.shape[1:])
    soft = soft_labels(config)
    if soft and class_weights is None:
        raise ValueError("mixup and label smoothing need the class weights, which go with each clip's labels")
    weights = tf.constant(class_weights, tf.float32) if soft else None
    mel_places = (tf.constant(mel_positions(config.audio.n_freqs, config.audio.target_rate))
                  if config.mel_masks else None)

    def read(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(x[rows], dtype=np.float32), y[rows]

    def load(batch_number, rows):
        features, labels = tf.numpy_function(read, [rows], (tf.float32, tf.int32), stateful=False)
        features = tf.ensure_shape(features, (None, *row_shape))
        seed = tf.stack([tf.constant(config.seed * 1000 + member, tf.int64), epoch * 1_000_000 + batch_number])
        labels = tf.ensure_shape(labels, (None,))
        if reversal is not None:
            # its own stream, folded from the batch seed, so the augmentation is that of a run without it
            features, labels = reversal(features, labels, tf.random.experimental.stateless_fold_in(seed, 3))
        if config.augment:
            features = augment_batch(features, noise, config.augmentation, seed, config.audio.step_samples,
                                     config.spec_masks, mel_places, config.noise_snr_db or None,
                                     config.frequency_warp)
        if cut is not None:
            features, labels = cut(features, labels, tf.random.experimental.stateless_fold_in(seed, 4))
        if not soft:
            return features, labels
        if config.mixup > 0:
            # its own stream, folded from the batch seed, so the augmentation is that of a run without it
            features, rows, clip_weights = mixup(features, labels, weights, config.mixup,
                                                 tf.random.experimental.stateless_fold_in(seed, 2))
        else:
            rows, clip_weights = tf.one_hot(labels, tf.shape(weights)[0]), tf.gather(weights, labels)
        return features, smooth_labels(rows, config.label_smoothing), clip_weights

    # A batch takes a few milliseconds to read and augment against a training step of a tenth of
    # a second or more: half the cores are plenty, and the model keeps the rest.
    options = tf.data.Options()
    options.autotune.cpu_budget = max(1, (os.cpu_count() or 2) // 2)
    # Under --strategy multi-worker each worker builds this whole dataset (there are no files to
    # split) and keeps its share of every batch: the DATA policy, named so that TensorFlow does not
    # first try the FILE policy and log its failure. Without a multi-worker strategy it does nothing.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return batches.map(load, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE).with_options(options)


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


def _mean_over_workers(strategy: tf.distribute.Strategy, values: list[float]) -> np.ndarray:
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
        _mean_over_workers(_MULTI_WORKER_STRATEGY[0], [0.0])


def _agreed_start(strategy: tf.distribute.Strategy, state: dict, config: TrainConfig) -> dict:
    """The checkpoint's state if every worker stopped after the same epoch, else a fresh start:
    workers that resumed from different epochs would wait on each other's steps forever."""
    position = state["member"] * (config.epochs + 1) + state["epoch"]
    mean, mean_square = _mean_over_workers(strategy, [position, position * position])
    if mean_square - mean * mean == 0.0:
        return state
    log.warning("the workers' checkpoints stop after different epochs; every worker trains from the start")
    return {"member": 0, "epoch": 0, "history": []}


class _MultiWorkerEpoch:
    """Epochs under MultiWorkerMirroredStrategy, each returning what model.fit's history holds.

    Keras 3's fit cannot run under this strategy (keras-team/keras#20585: it averages whole input
    batches and scalar metrics over the workers along an axis they lack), so the step is written
    out: the class-weighted loss averaged over the global batch, as Keras computes it, the
    compiled optimizer (which sums the gradients of every replica of every worker), and loss and
    accuracy summed over all of them. The step is traced once, for batches of any length.
    """

    def __init__(self, model: keras.Model, strategy: tf.distribute.Strategy, class_weight: dict[int, float],
                 average: WeightAverage | None = None):
        self.model, self.strategy, self.average = model, strategy, average
        self.weights = tf.constant([class_weight.get(c, 0.0) for c in range(model.output_shape[-1])], tf.float32)
        if not model.optimizer.built:  # a model restored from a checkpoint brings its slots
            with strategy.scope():
                model.optimizer.build(model.trainable_variables)  # its slots mirrored, before the first step
        self.step = None

    def _replica_step(self, x, y, mixed_weights=None):
        model = self.model
        with tf.GradientTape() as tape:
            p = model(x, training=True)
            if mixed_weights is None:
                per_clip = keras.losses.sparse_categorical_crossentropy(y, p) * tf.gather(self.weights, y)
            else:  # soft labels (mixup, label smoothing), each clip with its own class weight
                per_clip = keras.losses.categorical_crossentropy(y, p) * mixed_weights
                y = tf.argmax(y, -1, output_type=tf.int32)
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
            if self.average is not None:
                self.average.update()
        return {"loss": [totals[0] / max(totals[2], 1.0)], "accuracy": [totals[1] / max(totals[2], 1.0)]}


def _save_member(model: keras.Model, path, chief: bool) -> None:
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


def _seed_states(model: keras.Model) -> dict[str, list[int]]:
    # Keras re-seeds dropout's generators when it loads a model; keep their state ourselves.
    return {v.path: [int(i) for i in v.numpy()] for v in model.non_trainable_variables if "seed_generator" in v.path}


class Checkpoint:
    """The state after the last finished epoch of the member in training, so that a killed run
    continues where it stopped. Valid only for the settings and features it was made with."""

    def __init__(self, paths: Paths, fingerprint: dict):
        self.model_file = paths.checkpoint_model
        self.average_file = paths.checkpoint_average
        self.state_file = paths.checkpoint_state
        self.fingerprint = fingerprint

    def load(self) -> dict | None:
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        if (state.get("fingerprint") != self.fingerprint or not self.model_file.exists()
                or ("average_updates" in state and not self.average_file.exists())):
            log.info("ignoring a training checkpoint made with other settings or features")
            return None
        return state

    def save(self, model: keras.Model, state: dict, averaged: keras.Model | None = None) -> None:
        with atomic_path(self.model_file) as temp:
            model.save(temp)
        if averaged is not None:  # before the state that names its update count
            with atomic_path(self.average_file) as temp:
                averaged.save(temp)
        atomic_write_json(self.state_file, {**state, "fingerprint": self.fingerprint, "seeds": _seed_states(model)})

    def restore_model(self, state: dict) -> keras.Model:
        model = keras.models.load_model(self.model_file)
        for variable in model.non_trainable_variables:
            if variable.path in state["seeds"]:
                variable.assign(np.array(state["seeds"][variable.path], dtype=variable.dtype))
        return model

    def restore_average(self) -> keras.Model:
        return keras.models.load_model(self.average_file)

    def clear(self) -> None:
        self.model_file.unlink(missing_ok=True)
        self.average_file.unlink(missing_ok=True)
        self.state_file.unlink(missing_ok=True)


def _new_model(config: TrainConfig, member: int, n_train: int, n_classes: int) -> keras.Model:
    seed_everything(config.seed + member)
    model = build_model(config.model, config.audio, n_classes, config.features)
    steps = int(np.ceil(n_train / config.batch_size)) * config.epochs
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=steps)
    # AdamW with no decay is Adam in other arithmetic; the default keeps Adam's, so its runs stay byte for byte
    optimizer = (keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay) if config.weight_decay > 0
                 else keras.optimizers.Adam(schedule))
    # soft labels are probability rows; "accuracy" follows the labels' shape
    model.compile(optimizer=optimizer,
                  loss="categorical_crossentropy" if soft_labels(config) else "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


# A task with more classes (words, speakers) logs its most confused pairs instead of the whole matrix.
LOGGED_MATRIX_CLASSES = 12

HISTORY_COLUMNS = ["member", "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "val_balanced_accuracy",
                   "seconds"]
# Under --average-epochs the val_ columns score the averaged weights (the ones kept), and this one
# the trained weights of the same epoch: what averaging gained, epoch by epoch.
UNAVERAGED_COLUMN = "val_balanced_accuracy_unaveraged"


def _write_history(paths: Paths, rows: list[dict], averaged: bool) -> None:
    # in a fixed order: rows that come back from a checkpoint's JSON have their keys sorted
    columns = HISTORY_COLUMNS + [UNAVERAGED_COLUMN] if averaged else HISTORY_COLUMNS
    with atomic_path(paths.history_csv) as temp:
        pd.DataFrame(rows, columns=columns).to_csv(temp, index=False)


def _validation_row(member: KerasMember, x_val: np.ndarray, y_val: np.ndarray) -> dict:
    probabilities = predict_probabilities([member], x_val, (0,), member.model.output_shape[-1], batch_size=256)
    predicted = probabilities.argmax(axis=1)
    picked = np.clip(probabilities[np.arange(len(y_val)), y_val], 1e-7, 1.0)
    return {"val_loss": float(-np.log(picked).mean()), "val_accuracy": float((predicted == y_val).mean()),
            "val_balanced_accuracy": balanced_accuracy(y_val, predicted, probabilities.shape[1])}


def _onednn_kernels() -> str:
    """What TensorFlow decided when it loaded: the environment may have been read before the package set
    it (a notebook that imported TensorFlow first), so ask TensorFlow rather than the variable."""
    try:
        from tensorflow.python.util._pywrap_util_port import IsMklEnabled  # not public: no other way to ask
    except ImportError:
        return "unknown"
    return "on" if IsMklEnabled() else "off"


def _weight_average(config: TrainConfig, model: keras.Model, n_train: int, checkpoint: Checkpoint,
                    state: dict, resumed: bool) -> WeightAverage | None:
    """The average of `model`'s weights under --average-epochs: a resumed member's from its checkpoint."""
    if config.average_epochs <= 0:
        return None
    steps_per_epoch = int(np.ceil(n_train / config.batch_size))
    momentum = momentum_for(config.average_epochs, steps_per_epoch)
    if resumed:
        return WeightAverage(model, checkpoint.restore_average(), momentum, state["average_updates"])
    average = WeightAverage(model, build_model(config.model, config.audio, model.output_shape[-1], config.features),
                            momentum)
    average.start_from(model)
    return average


def train_member(paths: Paths, config: TrainConfig, member: int, data: dict, checkpoint: Checkpoint,
                 state: dict, strategy: tf.distribute.Strategy, chief: bool = True) -> dict:
    """Train one member from `state` (fresh or resumed) to the end; return the state after it."""
    if state.get("member") == member and state.get("epoch", 0) > 0 and _patience_spent(state, config):
        # killed after it stopped early and before the next member's first checkpoint: it is finished
        log.info("member %d: had stopped early after epoch %d", member, state["epoch"])
        return {**_without_pseudo_labels(state), "member": member + 1, "epoch": 0}
    x_train, y_train = data["train"]
    x_val, y_val = data["validation"]
    known = y_train[y_train >= 0]
    reversal = Reversal.plan(data["labels"], config.reversed_unknowns)
    cut = Cut.plan(data["labels"], config.cut_unknowns)
    class_weight = _balanced_weights(known, reversal, cut, config.class_sampling)
    with strategy.scope():
        resumed = state.get("member") == member and state.get("epoch", 0) > 0
        if resumed:
            # Op determinism is a switch of the process, which seed_everything throws only when it builds
            # a fresh model. Without it the resumed epochs run other kernels and drift in the last bits.
            tf.config.experimental.enable_op_determinism()
            model = checkpoint.restore_model(state)
            log.info("member %d: resuming after epoch %d from %s", member, state["epoch"], checkpoint.model_file)
        else:
            model = _new_model(config, member, len(known), len(data["labels"]))
            state = {**_without_pseudo_labels(state), "member": member, "epoch": 0, "best": -1.0, "best_epoch": 0}
            paths.pseudo_labels(member).unlink(missing_ok=True)  # an earlier run's, which this model never used
            if member == 0:
                gpus = len(tf.config.list_logical_devices("GPU"))
                log.info("model %s on %s features: %d parameters, %d replica(s) on %s", config.model, config.features,
                         model.count_params(), strategy.num_replicas_in_sync,
                         f"{gpus} GPU(s)" if gpus else
                         f"the CPU (no GPU visible; oneDNN kernels {_onednn_kernels()})")
        average = _weight_average(config, model, len(known), checkpoint, state, resumed)
    noise = tf.constant(data["noise"]) if data["noise"] is not None and len(data["noise"]) else None
    class_weights = np.array([class_weight.get(c, 0.0) for c in range(len(data["labels"]))], np.float32)
    # Validation runs through the member predict uses (the same probabilities): under op determinism
    # Keras's model.predict on arrays logs an error line at every epoch (TensorFlow makes its input
    # pipeline's parallel map sequential and keeps an attribute the sequential op lacks), and under
    # a multi-worker strategy it would split the set between the workers: each validates on all of it.
    kept = average.averaged if average else model
    validator, unaveraged_validator = KerasMember(kept), (KerasMember(model) if average else None)
    multi_worker_epoch = (_MultiWorkerEpoch(model, strategy, class_weight, average)
                          if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) else None)
    started = time.perf_counter()
    for epoch in range(state["epoch"], config.epochs):
        if "pool" in data and epoch == config.pseudo_label_epoch and "pseudo_labels" not in state:
            state["pseudo_labels"] = label_pool(paths, config, member, data, state).tolist()
        if "pseudo_labels" in state:
            # the pool's rows follow the training rows, in the order of data["pool"]
            dataset = epoch_dataset(StackedRows(x_train, *data["pool"]["parts"]),
                                    np.concatenate([y_train, np.asarray(state["pseudo_labels"], np.int32)]),
                                    noise, config, member, epoch, class_weights, labelled=len(y_train),
                                    reversal=reversal, cut=cut)
        else:
            dataset = epoch_dataset(x_train, y_train, noise, config, member, epoch, class_weights, reversal=reversal,
                                    cut=cut)
        if multi_worker_epoch:
            logs = multi_worker_epoch(dataset)
        else:
            # with soft labels each clip's class weight comes with it, mixed as its label is
            logs = model.fit(dataset, initial_epoch=epoch, epochs=epoch + 1,
                             class_weight=None if soft_labels(config) else class_weight,
                             callbacks=[AverageEveryStep(average)] if average else None,
                             shuffle=False, verbose=0).history
        row = {"member": member, "epoch": epoch + 1, "loss": logs["loss"][-1], "accuracy": logs["accuracy"][-1],
               **_validation_row(validator, x_val, y_val),
               "seconds": round(time.perf_counter() - started, 1)}
        if average:
            row[UNAVERAGED_COLUMN] = _validation_row(unaveraged_validator, x_val, y_val)["val_balanced_accuracy"]
        state["history"] = state.get("history", []) + [row]
        score = float(_mean_over_workers(strategy, [row["val_balanced_accuracy"]])[0])  # all workers in step
        improved = score > state["best"]
        if improved:
            state["best"], state["best_epoch"] = score, epoch + 1
            _save_member(kept, paths.member_file(member), chief)
        state["epoch"] = epoch + 1
        if average:
            state["average_updates"] = average.update_count
        _write_history(paths, state["history"], average is not None)
        checkpoint.save(model, state, average.averaged if average else None)
        log.info("member %d epoch %d: loss %.3f, validation accuracy %.4f, balanced %.4f%s%s", member, epoch + 1,
                 row["loss"], row["val_accuracy"], row["val_balanced_accuracy"],
                 f" (trained weights: {row[UNAVERAGED_COLUMN]:.4f})" if average else "",
                 " (best: saved)" if improved else "")
        if _patience_spent(state, config):
            log.info("member %d: no improvement for %d epochs, stopping", member, config.patience)
            break
    return {**_without_pseudo_labels(state), "member": member + 1, "epoch": 0}


def _balanced_weights(known: np.ndarray, reversal: Reversal | None, cut: Cut | None = None,
                      sampling: str = CLASS_WEIGHTS) -> dict[int, float]:
    """Class weights under which every class present weighs the same in an epoch: scikit-learn's
    balanced weights (n / (classes x count), the same arithmetic), on the labels the epochs have on
    average once reversed and cut clips are unknown. Unknown then has clips even where training has none
    of its own (--unknown-share 0). Under --class-sampling balanced the epochs draw every class as
    often as the others, so the weights are 1 unless reversed or cut clips move some to unknown."""
    relabellings = [r for r in (reversal, cut) if r is not None]
    counts = np.bincount(known, minlength=relabellings[0].n_classes if relabellings else 0).astype(np.float64)
    if sampling == BALANCED:
        counts = np.where(counts > 0, len(known) / np.count_nonzero(counts), 0.0)
    for relabelling in relabellings:
        counts = relabelling.expected_counts(counts)
    present = np.flatnonzero(counts > 0)
    return {int(c): float(w) for c, w in zip(present, len(known) / (len(present) * counts[present]))}


def _patience_spent(state: dict, config: TrainConfig) -> bool:
    """No better validation score for `patience` epochs after the state's last: the member is done.
    A function of the saved state alone, so a run resumed from it decides as the killed one would."""
    return state["epoch"] - state["best_epoch"] >= config.patience


def _without_pseudo_labels(state: dict) -> dict:
    return {key: value for key, value in state.items() if key != "pseudo_labels"}


def unlabelled_pool(paths: Paths, config: TrainConfig, x_val: np.ndarray) -> dict:
    """The clips pseudo-labels are given to: the readable validation clips (never trained on with
    their own labels), then every test clip, as a memory map. `parts` are their features, `readable` marks the rows
    that can be labelled, `tables` their rows of the feature tables."""
    test, test_table = cached_split(paths, config, "test")
    validation_table = read_feature_table(paths, "validation").query("readable")  # its index: the cache row
    return {"parts": (x_val, test), "tables": {"validation": validation_table, "test": test_table},
            "readable": np.concatenate([np.ones(len(validation_table), bool), test_table["readable"].to_numpy(bool)])}


def label_pool(paths: Paths, config: TrainConfig, member: int, data: dict, state: dict) -> np.ndarray:
    """The pool's pseudo-labels from the member's best checkpoint so far (chosen on validation, as
    every checkpoint is), with predict's time shifts; saved beside the model for reading."""
    pool, labels = data["pool"], data["labels"]
    best = KerasMember(keras.models.load_model(paths.member_file(member)))
    probabilities = predict_probabilities([best], StackedRows(*pool["parts"]),
                                          tta_shifts(config.tta, config.features, config.audio), len(labels),
                                          progress="pseudo-labels")
    pseudo = pseudo_labels(probabilities, pool["readable"], config.pseudo_label_confidence)
    table = pool_table(pool["tables"], probabilities, pseudo, labels)
    with atomic_path(paths.pseudo_labels(member)) as temp:
        table.to_csv(temp, index=False)
    from_validation = table["split"].to_numpy() == "validation"
    trained = table["trained"].to_numpy()
    # a diagnostic only: the validation labels score the pseudo-labels here, and choose nothing
    y_val, kept = data["validation"][1], trained[from_validation]
    right = float((pseudo[from_validation][kept] == y_val[kept]).mean()) if kept.any() else float("nan")
    log.info("member %d: pseudo-labels from the best model so far (epoch %d, balanced %.4f): %d of %d validation "
             "and %d of %d test clips reach %.2f (of the validation ones, %.1f %% are right); up to %d %% of each "
             "later epoch's clips are drawn from them; %s", member, state["best_epoch"], state["best"],
             trained[from_validation].sum(), from_validation.sum(), trained[~from_validation].sum(),
             (~from_validation).sum(), config.pseudo_label_confidence, 100 * right, round(100 * PSEUDO_SHARE),
             paths.pseudo_labels(member))
    return pseudo


def train(paths: Paths, config: TrainConfig, fingerprint: dict | None = None) -> None:
    """`fingerprint`: what the run depends on (config, upstream digests); a checkpoint with
    another fingerprint is ignored and training starts over."""
    strategy = distribution(config)  # first: a multi-worker strategy must start before any other TensorFlow op
    chief = is_chief(config.strategy)
    task = get_task(config.task)
    labels = list(task.classes(read_feature_table(paths, "train")["label"]))
    data = {"labels": labels, "train": load_split(paths, config, "train", labels, in_memory=False),
            "validation": load_split(paths, config, "validation", labels)}
    noise_file = paths.feature_cache("noise")
    data["noise"] = (load_split(paths, config, "noise", labels + ["noise"])[0].astype(np.float32)
                     if noise_file.exists() else None)
    data["validation"] = (data["validation"][0].astype(np.float32), data["validation"][1])
    if 0 < config.pseudo_label_epoch < config.epochs and config.task in PSEUDO_LABEL_TASKS:  # Settings refuses the rest
        data["pool"] = unlabelled_pool(paths, config, data["validation"][0])
    log.info("training on %d clips of %d classes, validating on %d %s clips, %d noise windows for mixing",
             len(readable_rows(data["train"][1])), len(labels), len(data["validation"][0]),
             "held-out-speaker" if task.held_out == HELD_OUT_SPEAKERS else "held-out",
             0 if data["noise"] is None else len(data["noise"]))
    paths.model_dir.mkdir(parents=True, exist_ok=True)
    write_labels(paths.labels_file, labels)
    checkpoint = Checkpoint(paths, fingerprint or {})
    state = _agreed_start(strategy, checkpoint.load() or {"member": 0, "epoch": 0, "history": []}, config)
    if state["member"] == 0 and state["epoch"] == 0:
        for stale in paths.model_dir.glob("model-*.keras"):
            stale.unlink()  # members of an earlier, larger ensemble
    if not chief:  # an earlier run's model here would be predicted from instead of the chief's
        for stale in [*paths.model_dir.glob("model*.keras"), paths.inference_config, paths.metrics_json,
                      paths.confusion_csv]:
            stale.unlink(missing_ok=True)
    for member in range(state["member"], config.ensemble):
        state = train_member(paths, config, member, data, checkpoint, state, strategy, chief)
    if chief:
        calibrate_and_report(paths, config, labels, *data["validation"])
    else:
        log.info("%s: trained in step with the chief, which writes the model, its calibration and the "
                 "submission in its own work folder", worker_task().describe())
    checkpoint.clear()


def calibrate_and_report(paths: Paths, config: TrainConfig, labels: list[str], x_val: np.ndarray,
                         y_val: np.ndarray) -> None:
    """Choose the task's decision threshold on held-out speakers (never on test labels) and report
    the saved checkpoints' validation scores with the same test-time shifts predict uses."""
    task = get_task(config.task)
    inference = InferenceConfig(
        task=task.name, members=tuple(paths.member_file(m).name for m in range(config.ensemble)),
        tta_shifts=tta_shifts(config.tta, config.features, config.audio), unknown_threshold=0.0,
        features=config.features, feature_dtype=config.feature_dtype, audio=config.audio)
    # the saved best checkpoints, loaded as predict will load them
    members = get_engine("keras").load(paths, inference)
    probabilities = predict_probabilities(members, x_val, inference.tta_shifts, len(labels))
    threshold, scores = task.calibrate(probabilities, y_val, config.calibrate_unknown)
    predicted = task.decide(probabilities, threshold, labels)
    accuracy = float((predicted == y_val).mean())
    balanced = balanced_accuracy(y_val, predicted, len(labels))
    matrix = pd.DataFrame(confusion_matrix(y_val, predicted, labels=range(len(labels))),
                          index=pd.Index(labels, name="true"), columns=labels)
    per_class = {label: float(matrix.loc[label, label] / max(matrix.loc[label].sum(), 1)) for label in labels}
    with atomic_path(paths.confusion_csv) as temp:
        matrix.to_csv(temp)
    dataclasses.replace(inference, unknown_threshold=threshold).save(paths.inference_config)
    readable = {split: read_feature_table(paths, split).query("readable") for split in ("train", "validation")}
    task_scores = task.evaluate(probabilities, y_val, readable["validation"], readable["train"])
    if task.verifies and (verification := verify_unseen_speakers(paths, config, members)) is not None:
        task_scores["verification"] = verification.summary()
    atomic_write_json(paths.metrics_json, {
        "validation_accuracy": accuracy, "validation_balanced_accuracy": balanced,
        "validation_balanced_accuracy_by_threshold": {str(t): s for t, s in scores.items()},
        "unknown_threshold": threshold, "validation_clips": int(len(y_val)), "per_class_accuracy": per_class,
        "parameters": int(members[0].count_params()),
        "model_bytes": sum(paths.member_file(m).stat().st_size for m in range(config.ensemble)),
        **({"task_scores": task_scores} if task_scores else {}),
    })
    if len(scores) > 1:
        log.info("unknown threshold %.2f chosen on validation (balanced accuracy by threshold: %s)", threshold,
                 ", ".join(f"{t}: {s:.4f}" for t, s in scores.items()))
    log.info("%s validation: accuracy %.4f, balanced over the %d labels %.4f (%d clips)",
             "held-out-speaker" if task.held_out == HELD_OUT_SPEAKERS else "held-out-clip", accuracy, len(labels),
             balanced, len(y_val))
    if len(labels) <= LOGGED_MATRIX_CLASSES:
        log.info("confusion matrix (rows: true, columns: predicted):\n%s", matrix.to_string())
    else:
        log.info("most confused pairs:\n%s", confused_pairs(matrix, LOGGED_MATRIX_CLASSES).to_string(index=False))
    if numbers := {name: value for name, value in task_scores.items() if isinstance(value, int | float)}:
        log.info("validation, the task's own scores: %s", ", ".join(f"{k} {v:.4g}" for k, v in numbers.items()))


def verify_unseen_speakers(paths: Paths, config: TrainConfig, members: list[KerasMember]) -> Verification | None:
    """Embed (a seeded sample of) the clips of the speakers never trained on with every member,
    score every pair, and save the equal error rate and its curve; None when they give no pairs
    of both kinds."""
    for stale in (paths.verification, paths.verification_curve):
        stale.unlink(missing_ok=True)
    features = np.load(paths.feature_cache("unseen"), mmap_mode="r")
    table = read_feature_table(paths, "unseen")
    rows = sampled_rows(np.flatnonzero(table["readable"].to_numpy(bool)), table["speaker"].to_numpy(str), config.seed)
    clips_per_speaker = table["speaker"].iloc[rows].value_counts()
    if len(clips_per_speaker) < 2 or not (clips_per_speaker > 1).any():
        # none at all is a data set whose every speaker has enough clips (the demo's): nothing to warn of
        (log.warning if len(rows) else log.info)(
            "verification skipped: the speakers never trained on (those with fewer than --min-clips-per-speaker "
            "clips) give %d clips of %d speakers, too few for both same-speaker and different-speaker pairs",
            len(rows), len(clips_per_speaker))
        return None
    clips = np.asarray(features[rows], dtype=np.float32)
    # each member's embedding scaled to unit length, so the cosine of the joined vectors is their mean cosine
    parts = [member.embed(clips) for member in members]
    embeddings = np.concatenate([p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12) for p in parts],
                                axis=1)
    verification = Verification.measure(embeddings, table["speaker"].to_numpy(str)[rows])
    verification.save(paths.verification)
    log.info("verification on %d speakers never trained on (%d clips, %d same-speaker and %d different-speaker "
             "pairs): equal error rate %.4f", verification.speakers, verification.clips, verification.same_pairs,
             verification.different_pairs, verification.eer)
    return verification
