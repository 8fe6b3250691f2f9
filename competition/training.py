"""Stage 4, train: fit a registry model on cached features, keep the best-on-validation checkpoint."""
from __future__ import annotations

import logging
import time

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.metrics import confusion_matrix
from sklearn.utils.class_weight import compute_class_weight

from . import PipelineError
from .config import Paths, Settings
from .io_utils import atomic_path, atomic_write_json
from .labels import LABELS, write_labels
from .models import build_model

log = logging.getLogger(__name__)

MAX_TIME_SHIFT_FRAMES = 10
MAX_FREQ_MASK = 8
MAX_TIME_MASK = 10


def seed_everything(seed: int) -> None:
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def load_split(paths: Paths, split: str, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    features = np.load(paths.features_dir / f"{split}.npy", mmap_mode="r")
    table = pd.read_csv(paths.features_dir / f"{split}.csv")
    if len(table) != len(features):
        raise PipelineError(
            f"{paths.features_dir}: {split}.npy has {len(features)} rows but {split}.csv has "
            f"{len(table)}; rerun --stage features"
        )
    lookup = {label: i for i, label in enumerate(labels)}
    return np.asarray(features), table["label"].map(lookup).to_numpy(np.int32)


def augment(spectrogram: tf.Tensor) -> tf.Tensor:
    """Random time shift and one time and one frequency mask (SpecAugment), per example."""
    frames, freqs = spectrogram.shape
    floor = tf.reduce_min(spectrogram)
    padded = tf.pad(spectrogram, [[MAX_TIME_SHIFT_FRAMES] * 2, [0, 0]], constant_values=floor)
    start = tf.random.uniform([], 0, 2 * MAX_TIME_SHIFT_FRAMES + 1, dtype=tf.int32)
    x = padded[start:start + frames]
    x = _mask(x, axis=0, size=frames, max_width=MAX_TIME_MASK)
    return _mask(x, axis=1, size=freqs, max_width=MAX_FREQ_MASK)


def _mask(x: tf.Tensor, axis: int, size: int, max_width: int) -> tf.Tensor:
    width = tf.random.uniform([], 0, max_width + 1, dtype=tf.int32)
    start = tf.random.uniform([], 0, size - width + 1, dtype=tf.int32)
    positions = tf.range(size)
    keep = (positions < start) | (positions >= start + width)
    keep = tf.reshape(keep, [-1, 1] if axis == 0 else [1, -1])
    return tf.where(keep, x, tf.reduce_mean(x))


def make_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, training: bool) -> tf.data.Dataset:
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if training:
        dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(lambda s, label: (tf.cast(s, tf.float32), label))
    if training:
        dataset = dataset.map(lambda s, label: (augment(s), label), num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


class KeepBest(keras.callbacks.Callback):
    """Save the model whenever validation accuracy improves, and the history every epoch."""

    def __init__(self, paths: Paths):
        super().__init__()
        self.paths = paths
        self.best = -1.0
        self.rows: list[dict] = []
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = dict(logs or {})
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in logs.items()},
               "seconds": round(time.perf_counter() - self.started, 1)}
        self.rows.append(row)
        with atomic_path(self.paths.model_dir / "history.csv") as temp:
            pd.DataFrame(self.rows).to_csv(temp, index=False)
        if logs["val_accuracy"] > self.best:
            self.best = logs["val_accuracy"]
            with atomic_path(self.paths.model_file) as temp:
                self.model.save(temp)
            log.info("epoch %d: validation accuracy %.4f, best so far: saved", epoch + 1, self.best)


def train(paths: Paths, settings: Settings) -> None:
    seed_everything(settings.seed)
    labels = list(LABELS)
    x_train, y_train = load_split(paths, "train", labels)
    x_val, y_val = load_split(paths, "validation", labels)
    log.info("training on %d clips, validating on %d held-out-speaker clips", len(x_train), len(x_val))

    present = np.unique(y_train)
    weights = compute_class_weight("balanced", classes=present, y=y_train)
    class_weight = {int(c): float(w) for c, w in zip(present, weights)}

    model = build_model(settings.model, settings.audio.feature_shape, len(labels))
    steps = int(np.ceil(len(x_train) / settings.batch_size)) * settings.epochs
    schedule = keras.optimizers.schedules.CosineDecay(settings.learning_rate, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    log.info("model %s: %d parameters", settings.model, model.count_params())

    write_labels(paths.labels_file, labels)
    model.fit(
        make_dataset(x_train, y_train, settings.batch_size, settings.seed, training=True),
        validation_data=make_dataset(x_val, y_val, settings.batch_size, settings.seed, training=False),
        epochs=settings.epochs, class_weight=class_weight,
        callbacks=[KeepBest(paths)], shuffle=False, verbose=2,  # the dataset shuffles, seeded
    )
    report_validation(paths, labels, x_val, y_val, settings.batch_size)


def report_validation(paths: Paths, labels: list[str], x_val: np.ndarray, y_val: np.ndarray,
                      batch_size: int) -> None:
    """Score the saved best checkpoint (not the last epoch) on held-out speakers."""
    model = keras.models.load_model(paths.model_file)
    predicted = model.predict(x_val.astype(np.float32), batch_size=batch_size, verbose=0).argmax(axis=1)
    accuracy = float((predicted == y_val).mean())
    matrix = pd.DataFrame(confusion_matrix(y_val, predicted, labels=range(len(labels))),
                          index=pd.Index(labels, name="true"), columns=labels)
    per_class = {label: float(matrix.loc[label, label] / max(matrix.loc[label].sum(), 1)) for label in labels}
    with atomic_path(paths.model_dir / "confusion_matrix.csv") as temp:
        matrix.to_csv(temp)
    atomic_write_json(paths.model_dir / "metrics.json", {
        "validation_accuracy": accuracy, "validation_clips": int(len(y_val)),
        "per_class_accuracy": per_class, "parameters": int(model.count_params()),
        "model_bytes": paths.model_file.stat().st_size,
    })
    log.info("held-out-speaker validation accuracy: %.4f on %d clips", accuracy, len(y_val))
    log.info("confusion matrix (rows: true, columns: predicted):\n%s", matrix.to_string())
