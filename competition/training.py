"""Stage 4, train: fit registry models on cached features, keep each one's best-on-validation
checkpoint, then calibrate the unknown decision on held-out speakers and words."""
from __future__ import annotations

import json
import logging
import os
import time

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.metrics import confusion_matrix
from sklearn.utils.class_weight import compute_class_weight

from . import PipelineError
from .augmentation import AugmentConfig, augment_batch
from .config import Paths, Settings
from .io_utils import atomic_path, atomic_write_json
from .labels import LABELS, UNKNOWN_LABEL, write_labels
from .models import build_model
from .prediction import member_file, predict_probabilities, tta_shifts

log = logging.getLogger(__name__)

# Candidate confidence thresholds below which a command or silence prediction becomes "unknown".
UNKNOWN_THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def seed_everything(seed: int) -> None:
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def check_cache_shape(shape: tuple[int, ...], settings: Settings, where) -> None:
    if tuple(shape) != settings.input_shape:
        raise PipelineError(f"{where}: holds features of shape {tuple(shape)}, but --features {settings.features} "
                            f"needs {settings.input_shape}; run --stage features with the same flags (or --stage all)")


def load_split(paths: Paths, settings: Settings, split: str, labels: list[str],
               in_memory: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Features and class numbers of the readable clips of a split. With in_memory=False the
    features stay a memory map of the cache and the labels cover every row (read them through
    `readable_rows`)."""
    features = np.load(paths.features_dir / f"{split}.npy", mmap_mode="r")
    check_cache_shape(features.shape[1:], settings, paths.features_dir / f"{split}.npy")
    table = pd.read_csv(paths.features_dir / f"{split}.csv")
    if len(table) != len(features):
        raise PipelineError(
            f"{paths.features_dir}: {split}.npy has {len(features)} rows but {split}.csv has "
            f"{len(table)}; rerun --stage features"
        )
    lookup = {label: i for i, label in enumerate(labels)}
    usable = table["readable"].to_numpy(bool)
    classes = table["label"].map(lookup).fillna(-1).to_numpy(np.int32)
    if (unknown := usable & (classes < 0)).any():
        raise PipelineError(f"{paths.features_dir / f'{split}.csv'}: labels outside {', '.join(labels)}: "
                            f"{sorted(set(table.loc[unknown, 'label'].astype(str)))[:5]}; rerun --stage prepare")
    if not in_memory:
        return features, np.where(usable, classes, -1).astype(np.int32)
    return np.asarray(features[usable]), classes[usable]


def readable_rows(y: np.ndarray) -> np.ndarray:
    return np.flatnonzero(y >= 0)


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Mean recall over the classes present: the accuracy on a test set with equal class shares,
    which is close to the competition's test mix."""
    recalls = [float((y_pred[y_true == c] == c).mean()) for c in range(n_classes) if (y_true == c).any()]
    return float(np.mean(recalls))


def epoch_dataset(x: np.ndarray, y: np.ndarray, noise: tf.Tensor | None, settings: Settings,
                  member: int, epoch: int) -> tf.data.Dataset:
    """One epoch of shuffled, augmented batches: a pure function of (seed, member, epoch).

    `x` may be a memory map of the cache: parallel map calls read the next batches' rows while
    the model trains on the current one. Rows whose label is negative (unreadable clips) are
    never drawn.
    """
    order = readable_rows(y)[np.random.default_rng([settings.seed, member, epoch]).permutation(int((y >= 0).sum()))]
    batches = tf.data.Dataset.from_tensor_slices(order).batch(settings.batch_size).enumerate()
    config = AugmentConfig()
    row_shape = tuple(x.shape[1:])

    def read(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(x[rows], dtype=np.float32), y[rows]

    def load(batch_number, rows):
        features, labels = tf.numpy_function(read, [rows], (tf.float32, tf.int32), stateful=False)
        features = tf.ensure_shape(features, (None, *row_shape))
        if settings.augment:
            seed = tf.stack([tf.constant(settings.seed * 1000 + member, tf.int64), epoch * 1_000_000 + batch_number])
            features = augment_batch(features, noise, config, seed, settings.audio.step_samples)
        return features, tf.ensure_shape(labels, (None,))

    # A batch takes a few milliseconds to read and augment against a training step of a tenth of
    # a second or more: half the cores are plenty, and the model keeps the rest.
    options = tf.data.Options()
    options.autotune.cpu_budget = max(1, (os.cpu_count() or 2) // 2)
    return batches.map(load, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE).with_options(options)


def distribution(settings: Settings) -> tf.distribute.Strategy:
    """The default (one device) strategy, or one replica per GPU (per CPU device when there is
    no GPU) with --strategy mirrored."""
    if settings.strategy == "default":
        return tf.distribute.get_strategy()
    devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
        [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)


def _seed_states(model: keras.Model) -> dict[str, list[int]]:
    # Keras re-seeds dropout's generators when it loads a model; keep their state ourselves.
    return {v.path: [int(i) for i in v.numpy()] for v in model.non_trainable_variables if "seed_generator" in v.path}


class Checkpoint:
    """The state after the last finished epoch of the member in training, so that a killed run
    continues where it stopped. Valid only for the settings and features it was made with."""

    def __init__(self, paths: Paths, fingerprint: dict):
        self.model_file = paths.model_dir / "checkpoint.keras"
        self.state_file = paths.model_dir / "checkpoint.json"
        self.fingerprint = fingerprint

    def load(self) -> dict | None:
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        if state.get("fingerprint") != self.fingerprint or not self.model_file.exists():
            log.info("ignoring a training checkpoint made with other settings or features")
            return None
        return state

    def save(self, model: keras.Model, state: dict) -> None:
        with atomic_path(self.model_file) as temp:
            model.save(temp)
        atomic_write_json(self.state_file, {**state, "fingerprint": self.fingerprint, "seeds": _seed_states(model)})

    def restore_model(self, state: dict) -> keras.Model:
        model = keras.models.load_model(self.model_file)
        for variable in model.non_trainable_variables:
            if variable.path in state["seeds"]:
                variable.assign(np.array(state["seeds"][variable.path], dtype=variable.dtype))
        return model

    def clear(self) -> None:
        self.model_file.unlink(missing_ok=True)
        self.state_file.unlink(missing_ok=True)


def _new_model(settings: Settings, member: int, n_train: int) -> keras.Model:
    seed_everything(settings.seed + member)
    model = build_model(settings.model, settings.input_shape, len(LABELS), settings.features)
    steps = int(np.ceil(n_train / settings.batch_size)) * settings.epochs
    schedule = keras.optimizers.schedules.CosineDecay(settings.learning_rate, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _write_history(paths: Paths, rows: list[dict]) -> None:
    with atomic_path(paths.model_dir / "history.csv") as temp:
        pd.DataFrame(rows).to_csv(temp, index=False)


def train_member(paths: Paths, settings: Settings, member: int, data: dict, checkpoint: Checkpoint,
                 state: dict, strategy: tf.distribute.Strategy) -> dict:
    """Train one member from `state` (fresh or resumed) to the end; return the state after it."""
    x_train, y_train = data["train"]
    x_val, y_val = data["validation"]
    known = y_train[y_train >= 0]
    present = np.unique(known)
    class_weight = {int(c): float(w) for c, w in zip(present, compute_class_weight("balanced", classes=present, y=known))}
    with strategy.scope():
        if state.get("member") == member and state.get("epoch", 0) > 0:
            model = checkpoint.restore_model(state)
            log.info("member %d: resuming after epoch %d from %s", member, state["epoch"], checkpoint.model_file)
        else:
            model = _new_model(settings, member, len(known))
            state = {**state, "member": member, "epoch": 0, "best": -1.0, "best_epoch": 0}
            if member == 0:
                log.info("model %s on %s features: %d parameters, %d replica(s)", settings.model, settings.features,
                         model.count_params(), strategy.num_replicas_in_sync)
    noise = tf.constant(data["noise"]) if data["noise"] is not None and len(data["noise"]) else None
    started = time.perf_counter()
    for epoch in range(state["epoch"], settings.epochs):
        logs = model.fit(epoch_dataset(x_train, y_train, noise, settings, member, epoch), initial_epoch=epoch,
                         epochs=epoch + 1, class_weight=class_weight, shuffle=False, verbose=0).history
        probabilities = model.predict(x_val, batch_size=256, verbose=0)
        predicted = probabilities.argmax(axis=1)
        picked = np.clip(probabilities[np.arange(len(y_val)), y_val], 1e-7, 1.0)
        row = {"member": member, "epoch": epoch + 1, "loss": logs["loss"][-1], "accuracy": logs["accuracy"][-1],
               "val_loss": float(-np.log(picked).mean()), "val_accuracy": float((predicted == y_val).mean()),
               "val_balanced_accuracy": balanced_accuracy(y_val, predicted, len(LABELS)),
               "seconds": round(time.perf_counter() - started, 1)}
        state["history"] = state.get("history", []) + [row]
        improved = row["val_balanced_accuracy"] > state["best"]
        if improved:
            state["best"], state["best_epoch"] = row["val_balanced_accuracy"], epoch + 1
            with atomic_path(member_file(paths, member)) as temp:
                model.save(temp)
        state["epoch"] = epoch + 1
        _write_history(paths, state["history"])
        checkpoint.save(model, state)
        log.info("member %d epoch %d: loss %.3f, validation accuracy %.4f, balanced %.4f%s", member, epoch + 1,
                 row["loss"], row["val_accuracy"], row["val_balanced_accuracy"], " (best: saved)" if improved else "")
        if epoch + 1 - state["best_epoch"] >= settings.patience:
            log.info("member %d: no improvement for %d epochs, stopping", member, settings.patience)
            break
    return {**state, "member": member + 1, "epoch": 0}


def train(paths: Paths, settings: Settings, fingerprint: dict | None = None) -> None:
    """`fingerprint`: what the run depends on (settings, upstream digests); a checkpoint with
    another fingerprint is ignored and training starts over."""
    labels = list(LABELS)
    data = {"train": load_split(paths, settings, "train", labels, in_memory=False),
            "validation": load_split(paths, settings, "validation", labels)}
    noise_file = paths.features_dir / "noise.npy"
    data["noise"] = load_split(paths, settings, "noise", labels + ["noise"])[0].astype(np.float32) if noise_file.exists() else None
    data["validation"] = (data["validation"][0].astype(np.float32), data["validation"][1])
    log.info("training on %d clips, validating on %d held-out-speaker clips, %d noise windows for mixing",
             len(readable_rows(data["train"][1])), len(data["validation"][0]), 0 if data["noise"] is None else len(data["noise"]))
    paths.model_dir.mkdir(parents=True, exist_ok=True)
    write_labels(paths.labels_file, labels)
    checkpoint = Checkpoint(paths, fingerprint or {})
    state = checkpoint.load() or {"member": 0, "epoch": 0, "history": []}
    if state["member"] == 0 and state["epoch"] == 0:
        for stale in paths.model_dir.glob("model-*.keras"):
            stale.unlink()  # members of an earlier, larger ensemble
    strategy = distribution(settings)
    for member in range(state["member"], settings.ensemble):
        state = train_member(paths, settings, member, data, checkpoint, state, strategy)
    calibrate_and_report(paths, settings, labels, *data["validation"])
    checkpoint.clear()
    write_report_quietly(paths, settings)


def write_report_quietly(paths: Paths, settings: Settings) -> None:
    """The figures are a convenience: a plotting failure must not cost the trained model."""
    from .reports import write_training_report

    try:
        write_training_report(paths, settings)
    except Exception as error:  # noqa: BLE001 - any failure here is reported, never fatal
        log.warning("could not write the training report (%s: %s); rerun it with --stage report",
                    type(error).__name__, error)


def apply_unknown_threshold(probabilities: np.ndarray, threshold: float, labels: list[str]) -> np.ndarray:
    """Argmax, except that a prediction less confident than `threshold` becomes unknown."""
    predicted = probabilities.argmax(axis=1)
    unsure = probabilities.max(axis=1) < threshold
    predicted[unsure] = labels.index(UNKNOWN_LABEL)
    return predicted


def calibrate_and_report(paths: Paths, settings: Settings, labels: list[str], x_val: np.ndarray, y_val: np.ndarray) -> None:
    """Choose the unknown threshold on held-out speakers (never on test labels) and report the
    saved checkpoints' validation scores with the same test-time augmentation predict uses."""
    members = [keras.models.load_model(member_file(paths, m)) for m in range(settings.ensemble)]
    probabilities = predict_probabilities(members, x_val, tta_shifts(settings))
    scores = {t: balanced_accuracy(y_val, apply_unknown_threshold(probabilities, t, labels), len(labels))
              for t in UNKNOWN_THRESHOLDS}
    threshold = max(scores, key=lambda t: (scores[t], -t)) if settings.calibrate_unknown else 0.0
    predicted = apply_unknown_threshold(probabilities, threshold, labels)
    accuracy = float((predicted == y_val).mean())
    balanced = balanced_accuracy(y_val, predicted, len(labels))
    matrix = pd.DataFrame(confusion_matrix(y_val, predicted, labels=range(len(labels))),
                          index=pd.Index(labels, name="true"), columns=labels)
    per_class = {label: float(matrix.loc[label, label] / max(matrix.loc[label].sum(), 1)) for label in labels}
    with atomic_path(paths.model_dir / "confusion_matrix.csv") as temp:
        matrix.to_csv(temp)
    atomic_write_json(paths.model_dir / "predict_config.json", {
        "members": [member_file(paths, m).name for m in range(settings.ensemble)],
        "tta_shifts": list(tta_shifts(settings)), "unknown_threshold": threshold,
        "features": settings.features, "feature_dtype": settings.feature_dtype,
    })
    atomic_write_json(paths.model_dir / "metrics.json", {
        "validation_accuracy": accuracy, "validation_balanced_accuracy": balanced,
        "validation_balanced_accuracy_by_threshold": {str(t): s for t, s in scores.items()},
        "unknown_threshold": threshold, "validation_clips": int(len(y_val)), "per_class_accuracy": per_class,
        "parameters": int(members[0].count_params()),
        "model_bytes": sum(member_file(paths, m).stat().st_size for m in range(settings.ensemble)),
    })
    log.info("unknown threshold %.2f chosen on validation (balanced accuracy by threshold: %s)", threshold,
             ", ".join(f"{t}: {s:.4f}" for t, s in scores.items()))
    log.info("held-out-speaker validation: accuracy %.4f, balanced over the 12 labels %.4f (%d clips)",
             accuracy, balanced, len(y_val))
    log.info("confusion matrix (rows: true, columns: predicted):\n%s", matrix.to_string())
