"""The refit (side stage refit): the validated run's recipe again, on its training and validation clips
together, each member for the epoch count validation chose; the validated decision carried over.
The refit model has no validation of its own, and its metrics say so."""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil

import pandas as pd

from .. import PipelineError
from ..core.cluster import MULTI_WORKER
from ..core.config import TrainConfig
from ..core.io import atomic_write_json
from ..core.paths import Paths
from ..inference.config import InferenceConfig
from .checkpoints import Checkpoint
from .data import readable_rows, training_data
from .loop import train_member
from .strategies import distribution

log = logging.getLogger(__name__)


def chosen_epochs(validated: Paths, members: int) -> list[int]:
    """Each member's epoch of its best validation score, the checkpoint the validated model kept (its first
    best: training keeps a checkpoint only when the score improves)."""
    history = pd.read_csv(validated.history_csv)
    epochs = []
    for member in range(members):
        rows = history[history["member"] == member]
        if rows.empty or rows["val_balanced_accuracy"].isna().all():
            raise PipelineError(f"{validated.history_csv}: no validation scores for member {member}; "
                                "run --stage train (with validation) before --stage refit")
        epochs.append(int(rows.loc[rows["val_balanced_accuracy"].idxmax(), "epoch"]))
    return epochs


def refit(validated: Paths, config: TrainConfig, fingerprint: dict) -> Paths:
    """Train the refit members into `validated.refitted`'s model folder, with the validated model's labels and
    decision; return those paths."""
    if config.strategy == MULTI_WORKER:
        raise PipelineError("--stage refit trains on one machine; run it with --strategy default or mirrored")
    paths = validated.refitted
    epochs = chosen_epochs(validated, config.ensemble)
    inference = InferenceConfig.load(validated.inference_config)
    strategy = distribution(config)
    data = training_data(validated, config, with_validation=True)
    clips = len(readable_rows(data["train"][1]))
    log.info("refit on %d training and validation clips, member(s) trained for %s epoch(s) of the %d-epoch "
             "schedule, as validation chose; no validation of its own", clips, ", ".join(map(str, epochs)),
             config.epochs)
    paths.model_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(validated.labels_file, paths.labels_file)
    checkpoint = Checkpoint(paths, fingerprint)
    state = checkpoint.load() or {"member": 0, "epoch": 0, "history": []}
    for member in range(state["member"], config.ensemble):
        state = train_member(paths, config, member, data, checkpoint, state, strategy, stop_after=epochs[member])
    # the decision chosen on validation, which the refit model cannot choose again: it has trained on those
    # clips; it listens with its own scores, since its operating point was never measured with a head
    dataclasses.replace(inference, members=tuple(paths.member_file(m).name for m in range(config.ensemble)),
                        listen_members=()).save(paths.inference_config)
    atomic_write_json(paths.metrics_json, {
        "validated": False, "training_clips": clips, "epochs": epochs,
        "unknown_threshold": inference.unknown_threshold,
        "note": "trained on the training and validation clips together: no validation score of its own; the "
                "epoch counts and the decision threshold are the validated model's, whose metrics follow",
        "validated_model": json.loads(validated.metrics_json.read_text()),
    })
    checkpoint.clear()
    return paths
