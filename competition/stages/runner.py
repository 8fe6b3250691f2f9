"""Running stages: skip what is up to date, rerun what is stale and everything after it."""
from __future__ import annotations

import logging
import time

from .. import PipelineError
from ..core.cluster import MULTI_WORKER, is_chief, worker_task
from ..core.config import Settings
from ..core.io import check_writable
from ..core.lock import work_folder_lock
from ..core.paths import Paths
from . import manifests
from .table import SIDE_STAGE_NAMES, STAGE_NAMES, STAGES, Stage, stage_by_name

log = logging.getLogger(__name__)


def staleness(stage: Stage, paths: Paths, settings: Settings) -> str | None:
    """Why `stage` must run again, or None when its outputs are up to date."""
    manifest = manifests.read(paths, stage.name)
    if manifest is None:
        return manifests.unusable(paths, stage.name)
    wanted, recorded = manifests.normalised(stage.configure(settings, paths)), manifest.get("config", {})
    # a setting added since the run, and left at its default, changes nothing the run made
    defaults = manifests.normalised(stage.configure(Settings(task=settings.task), paths))
    if changed := manifests.changed_settings(wanted, recorded, defaults):
        return f"settings changed ({', '.join(changed)})"
    for name in stage.upstream:
        upstream = manifests.read(paths, name)
        if upstream is None or manifest.get("upstream", {}).get(name) != upstream.get("digest"):
            return f"{name} has changed since"
    try:
        inputs = stage.inputs(paths)
    except PipelineError:
        inputs = manifest.get("inputs")  # archives removed after extraction: the files still serve
        log.info("stage %s: its input archives are gone; keeping what it extracted", stage.name)
    if manifest.get("inputs") != inputs:
        return "input archives changed"
    for path, size in manifests.outputs(paths, manifest):
        if not path.exists() or manifests.size(path) != size:
            return f"output {path} is missing or changed"
    return None


def run_stage(stage: Stage, paths: Paths, settings: Settings) -> None:
    for name in stage.upstream:
        if manifests.read(paths, name) is None:
            raise PipelineError(
                f"stage {stage.name} needs the output of stage {name}, which has not finished in "
                f"{paths.work_dir} ({manifests.unusable(paths, name)}); run --stage {name} first (or --stage all)"
            )
        stale = staleness(stage_by_name(name), paths, settings)
        if stale:
            log.warning("stage %s is out of date (%s); %s uses its output anyway", name, stale, stage.name)
    chief = is_chief(settings.strategy)
    if stage.chief_only and not chief:
        log.info("stage %s: skipped on %s; the chief (worker 0) runs it in its work folder", stage.name,
                 worker_task().describe())
        return
    config = stage.configure(settings, paths)
    inputs = stage.inputs(paths)
    paths.manifest(stage.name).unlink(missing_ok=True)
    log.info("stage %s: running", stage.name)
    started = time.perf_counter()
    stage.run(paths, config)
    seconds = time.perf_counter() - started
    outputs = stage.outputs if chief or stage.worker_outputs is None else stage.worker_outputs
    manifests.write(paths, stage.name, config, stage.upstream, inputs, outputs(paths), seconds)
    log.info("stage %s: done in %.1f s", stage.name, seconds)


def run(stage_name: str, paths: Paths, settings: Settings, rerun_from: str | None = None) -> None:
    """Run one stage, or with "all" every stage that is out of date (and all from `rerun_from` on),
    holding the work folder's lock throughout."""
    with work_folder_lock(paths.work_dir):
        _run(stage_name, paths, settings, rerun_from)
        if settings.strategy == MULTI_WORKER:
            from ..train.strategies import leave_cluster

            leave_cluster()


def _run(stage_name: str, paths: Paths, settings: Settings, rerun_from: str | None) -> None:
    if settings.strategy == MULTI_WORKER:
        log.info("--strategy %s: this run is %s", MULTI_WORKER, worker_task().describe())  # or TF_CONFIG's error
    check_writable(paths.work_dir, "the work folder (--work-dir)")
    check_writable(paths.output.parent, "the submission's folder (--output)")
    if stage_name != "all":
        stage = stage_by_name(stage_name)
        if stage is None:
            raise PipelineError(f"unknown stage {stage_name!r}; expected one of all, "
                                f"{', '.join(STAGE_NAMES + SIDE_STAGE_NAMES)}")
        run_stage(stage, paths, settings)
        return
    forced = STAGE_NAMES.index(rerun_from) if rerun_from else len(STAGES)
    for position, stage in enumerate(STAGES):
        reason = f"--from {rerun_from}" if position >= forced else staleness(stage, paths, settings)
        if reason is None:
            log.info("stage %s: up to date, skipped", stage.name)
            continue
        log.info("stage %s: runs because %s", stage.name, reason)
        recorded = paths.manifest(stage.name).exists()  # before run_stage removes it
        try:
            run_stage(stage, paths, settings)
        except PipelineError as error:
            if not recorded:  # a first run: the error says all there is
                raise
            # a finished run the folder no longer holds whole (copied in part, damaged): say which file
            raise PipelineError(f"stage {stage.name} had to run again because {reason}, and could not: "
                                f"{error}") from error
