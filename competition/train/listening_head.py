"""After training: each member's listening model, the member with the listening head (models.open_set)
fitted on the embeddings of the training clips, for a task with silence and unknown classes."""
from __future__ import annotations

import logging

from ..core.config import TrainConfig
from ..core.io import atomic_path
from ..core.paths import Paths
from ..inference.engines import KerasMember
from ..models.open_set import fit_head, listening_model
from ..tasks import get_task
from .data import load_split

log = logging.getLogger(__name__)

LISTENING_PREFIX = "listening-"


def write_listening_models(paths: Paths, config: TrainConfig, labels: list[str],
                           members: list[KerasMember]) -> tuple[str, ...]:
    """Write each member's listening model beside it; return their file names (none for a task with
    nothing to reject)."""
    task = get_task(config.task)
    if task.silence_label is None or task.unknown_label is None:
        return ()
    features, classes = load_split(paths, config, "train", labels, in_memory=False)
    readable = classes >= 0
    commands = [label not in (task.silence_label, task.unknown_label) for label in labels]
    names = []
    for number, member in enumerate(members):
        log.info("listening head of member %d: fitting on the embeddings of %d training clips", number,
                 int(readable.sum()))
        embeddings = member.embed(features)[readable]
        head = fit_head(embeddings, classes[readable], len(labels), commands)
        model = listening_model(member.model, head, labels.index(task.unknown_label), commands)
        path = paths.model_dir / f"{LISTENING_PREFIX}{paths.member_file(number).name}"
        with atomic_path(path) as temp:
            model.save(temp)
        names.append(path.name)
    return tuple(names)
