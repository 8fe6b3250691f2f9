"""The cluster of `--strategy multi-worker`, read from TF_CONFIG without loading TensorFlow.

TensorFlow's MultiWorkerMirroredStrategy reads the same variable; reading it here first lets a
run fail at start-up, in one line, before hours of extraction, and lets the stage runner know
whether this process is the chief (worker 0), the one that writes the model and the submission.
"""
from __future__ import annotations

import dataclasses
import json
import os

from .. import PipelineError

MULTI_WORKER = "multi-worker"
EXAMPLE = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
           '"task": {"type": "worker", "index": 0}}')


@dataclasses.dataclass(frozen=True)
class WorkerTask:
    workers: tuple[str, ...]  # host:port of every worker, the same list on all of them
    index: int                # this worker's place in it; 0 is the chief

    @property
    def is_chief(self) -> bool:
        return self.index == 0

    def describe(self) -> str:
        return f"worker {self.index} of {len(self.workers)}" + (" (the chief)" if self.is_chief else "")


def _bad(expected: str, found: object) -> PipelineError:
    return PipelineError(f"--strategy {MULTI_WORKER} reads the cluster from the environment variable TF_CONFIG: "
                         f"expected {expected}, e.g. TF_CONFIG='{EXAMPLE}'; found {found}")


def worker_task(environ: os._Environ | dict | None = None) -> WorkerTask:
    """This process's place in the cluster, or a PipelineError naming what TF_CONFIG lacks."""
    raw = (os.environ if environ is None else environ).get("TF_CONFIG")
    if not raw:
        raise _bad("a JSON object with the cluster's workers and this task", "it unset" if raw is None else "it empty")
    try:
        config = json.loads(raw)
    except ValueError as error:
        raise _bad("JSON", f"{raw!r} ({error})") from None
    if not isinstance(config, dict):
        raise _bad("a JSON object", repr(raw))
    cluster, task = config.get("cluster"), config.get("task")
    workers = cluster.get("worker") if isinstance(cluster, dict) else None
    if not isinstance(workers, list) or not workers or not all(
            isinstance(w, str) and w.rpartition(":")[0] and w.rpartition(":")[2].isdigit() for w in workers):
        raise _bad('"cluster": {"worker": [...]} listing each worker as "host:port"', f"cluster {cluster!r}")
    if extra := sorted(set(cluster) - {"worker"}):
        # a "chief" or "ps" job is another training set-up than the one this pipeline runs
        raise _bad('only a "worker" job in the cluster (worker 0 is the chief)', f"jobs {extra}")
    if not isinstance(task, dict) or task.get("type") != "worker":
        raise _bad('"task": {"type": "worker", "index": N}', f"task {task!r}")
    index = task.get("index")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(workers):
        raise _bad(f"a task index from 0 to {len(workers) - 1} (one per listed worker)", f"index {index!r}")
    return WorkerTask(tuple(workers), index)


def is_chief(strategy: str) -> bool:
    """Whether this process writes what predict reads: always, except on the other workers of
    a multi-worker run."""
    return strategy != MULTI_WORKER or worker_task().is_chief
