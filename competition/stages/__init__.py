"""Stages: the table of stages (table), their manifests (manifests) and the runner that skips
what is up to date and reruns what is stale (runner)."""
from .runner import run, run_stage, staleness
from .table import SIDE_STAGE_NAMES, SIDE_STAGES, STAGE_NAMES, STAGES, Stage, stage_by_name

__all__ = ["SIDE_STAGES", "SIDE_STAGE_NAMES", "STAGES", "STAGE_NAMES", "Stage", "run", "run_stage", "stage_by_name",
           "staleness"]
