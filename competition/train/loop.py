"""Training one member: a fresh or resumed model, its epochs, the validation score that keeps the best
weights, the history, the checkpoint after every epoch, and early stopping; or, for a refit, a given number
of epochs with no validation, keeping the last weights."""
from __future__ import annotations

import logging
import time

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from ..core.config import TrainConfig
from ..core.io import atomic_path
from ..core.metrics import balanced_accuracy
from ..core.paths import Paths
from ..inference.engines import KerasMember
from ..inference.ensemble import predict_probabilities
from ..models import build_model
from .checkpoints import Checkpoint
from .pipeline import epoch_dataset
from .strategies import MultiWorkerEpoch, mean_over_workers, save_member

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ["member", "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "val_balanced_accuracy",
                   "seconds"]


def seed_everything(seed: int) -> None:
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def new_model(config: TrainConfig, member: int, n_train: int, n_classes: int) -> keras.Model:
    seed_everything(config.seed + member)
    model = build_model(config.model, config.audio, n_classes, config.features)
    steps = int(np.ceil(n_train / config.batch_size)) * config.epochs
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def balanced_weights(known: np.ndarray) -> dict[int, float]:
    """Class weights under which every class present weighs the same in an epoch: scikit-learn's
    balanced weights (n / (classes x count), the same arithmetic), without its label encoder."""
    counts = np.bincount(known).astype(np.float64)
    present = np.flatnonzero(counts > 0)
    return {int(c): float(w) for c, w in zip(present, len(known) / (len(present) * counts[present]))}


def patience_spent(state: dict, config: TrainConfig) -> bool:
    """No better validation score for `patience` epochs after the state's last: the member is done.
    A function of the saved state alone, so a run resumed from it decides as the killed one would."""
    return state["epoch"] - state["best_epoch"] >= config.patience


def _write_history(paths: Paths, rows: list[dict]) -> None:
    # in a fixed order: rows that come back from a checkpoint's JSON have their keys sorted
    with atomic_path(paths.history_csv) as temp:
        pd.DataFrame(rows, columns=HISTORY_COLUMNS).to_csv(temp, index=False)


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


def _start(paths: Paths, config: TrainConfig, member: int, data: dict, checkpoint: Checkpoint, state: dict,
           strategy: tf.distribute.Strategy, n_train: int) -> tuple[keras.Model, dict]:
    """The member's model and state: restored from the checkpoint when it was in training, else new."""
    with strategy.scope():
        if state.get("member") == member and state.get("epoch", 0) > 0:
            # Op determinism is a switch of the process, which seed_everything throws only when it builds
            # a fresh model. Without it the resumed epochs run other kernels and drift in the last bits.
            tf.config.experimental.enable_op_determinism()
            log.info("member %d: resuming after epoch %d from %s", member, state["epoch"], checkpoint.model_file)
            return checkpoint.restore_model(state), state
        model = new_model(config, member, n_train, len(data["labels"]))
        if member == 0:
            gpus = len(tf.config.list_logical_devices("GPU"))
            log.info("model %s on %s features: %d parameters, %d replica(s) on %s", config.model, config.features,
                     model.count_params(), strategy.num_replicas_in_sync,
                     f"{gpus} GPU(s)" if gpus else f"the CPU (no GPU visible; oneDNN kernels {_onednn_kernels()})")
        return model, {**state, "member": member, "epoch": 0, "best": -1.0, "best_epoch": 0}


def train_member(paths: Paths, config: TrainConfig, member: int, data: dict, checkpoint: Checkpoint,
                 state: dict, strategy: tf.distribute.Strategy, chief: bool = True, stop_after: int | None = None
                 ) -> dict:
    """Train one member from `state` (fresh or resumed) to the end; return the state after it.
    Without validation data (a refit) it trains `stop_after` epochs of the config's schedule and keeps
    the last; with it, at most the config's epochs, keeping the best."""
    if state.get("member") == member and state.get("epoch", 0) > 0 and patience_spent(state, config):
        # killed after it stopped early and before the next member's first checkpoint: it is finished
        log.info("member %d: had stopped early after epoch %d", member, state["epoch"])
        return {**state, "member": member + 1, "epoch": 0}
    x_train, y_train = data["train"]
    validated = data["validation"] is not None
    stop = config.epochs if stop_after is None else stop_after
    known = y_train[y_train >= 0]
    class_weight = balanced_weights(known)
    model, state = _start(paths, config, member, data, checkpoint, state, strategy, len(known))
    noise = tf.constant(data["noise"]) if data["noise"] is not None and len(data["noise"]) else None
    # Validation runs through the member predict uses (the same probabilities): under op determinism
    # Keras's model.predict on arrays logs an error line at every epoch (TensorFlow makes its input
    # pipeline's parallel map sequential and keeps an attribute the sequential op lacks), and under
    # a multi-worker strategy it would split the set between the workers: each validates on all of it.
    validator = KerasMember(model) if validated else None
    multi_worker_epoch = (MultiWorkerEpoch(model, strategy, class_weight)
                          if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) else None)
    started = time.perf_counter()
    for epoch in range(state["epoch"], stop):
        dataset = epoch_dataset(x_train, y_train, noise, config, member, epoch)
        if multi_worker_epoch:
            logs = multi_worker_epoch(dataset)
        else:
            logs = model.fit(dataset, initial_epoch=epoch, epochs=epoch + 1, class_weight=class_weight,
                             shuffle=False, verbose=0).history
        row = {"member": member, "epoch": epoch + 1, "loss": logs["loss"][-1], "accuracy": logs["accuracy"][-1],
               **(_validation_row(validator, *data["validation"]) if validated else {}),
               "seconds": round(time.perf_counter() - started, 1)}
        state["history"] = state.get("history", []) + [row]
        if validated:
            score = float(mean_over_workers(strategy, [row["val_balanced_accuracy"]])[0])  # all workers in step
            improved = score > state["best"]
        else:  # nothing to choose by: the epoch count was chosen already, and the last epoch is kept
            score, improved = state["best"], epoch + 1 == stop
        if improved or not validated:
            state["best"], state["best_epoch"] = score, epoch + 1
        if improved:
            save_member(model, paths.member_file(member), chief)
        state["epoch"] = epoch + 1
        _write_history(paths, state["history"])
        checkpoint.save(model, state)
        if validated:
            log.info("member %d epoch %d: loss %.3f, validation accuracy %.4f, balanced %.4f%s", member, epoch + 1,
                     row["loss"], row["val_accuracy"], row["val_balanced_accuracy"],
                     " (best: saved)" if improved else "")
        else:
            log.info("member %d epoch %d of %d: loss %.3f, training accuracy %.4f%s", member, epoch + 1, stop,
                     row["loss"], row["accuracy"], " (the last: saved)" if improved else "")
        if patience_spent(state, config):
            log.info("member %d: no improvement for %d epochs, stopping", member, config.patience)
            break
    return {**state, "member": member + 1, "epoch": 0}
