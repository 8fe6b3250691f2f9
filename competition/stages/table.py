"""The stage table: each stage's name, what it reads, its config, what it writes and its entry.

New capabilities join here (a row for a side stage) and in the registries (tasks, models,
engines); the stages themselves do not fork.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import PipelineError
from ..core.cluster import is_chief
from ..core.config import (
    BaselineConfig,
    ExploreConfig,
    ExportConfig,
    ExtractConfig,
    FeaturesConfig,
    OperatingConfig,
    PredictConfig,
    PrepareConfig,
    RefitConfig,
    ReportConfig,
    Settings,
    TrainConfig,
    project,
)
from ..core.paths import FEATURE_SPLITS, Paths
from . import manifests

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    upstream: tuple[str, ...]
    config: type                                   # the stage's config dataclass (core.config)
    outputs: Callable[[Paths], list[Path]]
    run: Callable[[Paths, Any], None]
    # config values that come from the paths rather than the settings (where the output goes)
    extra: Callable[[Settings, Paths], dict] = lambda settings, paths: {}
    # --strategy multi-worker: what a worker other than the chief writes (None: the same as the
    # chief), and whether the stage runs on the chief alone
    worker_outputs: Callable[[Paths], list[Path]] | None = None
    chief_only: bool = False
    # what the stage reads from outside the work folder, as its manifest records it (extract: the archives)
    inputs: Callable[[Paths], dict] = lambda paths: {}

    def configure(self, settings: Settings, paths: Paths) -> Any:
        return project(self.config, settings, **self.extra(settings, paths))


def _archives(paths: Paths) -> dict:
    from ..data.archives import archive_fingerprint, find_archives
    return archive_fingerprint(find_archives(paths.input_dir))


def _run_extract(paths: Paths, config: ExtractConfig) -> None:
    from ..data.archives import extract, find_archives
    extract(find_archives(paths.input_dir), paths)


def _run_prepare(paths: Paths, config: PrepareConfig) -> None:
    from ..data.prepare import prepare
    prepare(paths, config)


def _run_features(paths: Paths, config: FeaturesConfig) -> None:
    from ..data.features import build_features
    build_features(paths, config)


def _run_train(paths: Paths, config: TrainConfig) -> None:
    from ..train.stage import train
    checkpoint_key = {"config": manifests.normalised(config),
                      "upstream": {name: manifests.read(paths, name)["digest"] for name in TRAIN_UPSTREAM}}
    train(paths, config, checkpoint_key)
    if is_chief(config.strategy):  # the other workers of a multi-worker run have no model to report on
        _report_quietly(paths, ReportConfig(seed=config.seed))


def _report_quietly(paths: Paths, config: ReportConfig) -> None:
    """The figures are a convenience: a plotting failure must not cost the trained model."""
    from ..analysis.reports import write_training_report

    try:
        write_training_report(paths, config)
    except Exception as error:  # noqa: BLE001 - any failure here is reported, never fatal
        log.warning("could not write the training report (%s: %s); rerun it with --stage report",
                    type(error).__name__, error)


def _run_predict(paths: Paths, config: PredictConfig) -> None:
    from ..predict.stage import predict
    predict(paths, config)


def _run_operating(paths: Paths, config: OperatingConfig) -> None:
    from ..streaming.stage import measure_operating_points
    measure_operating_points(paths, config)


def _run_refit(paths: Paths, config: RefitConfig) -> None:
    from ..predict.stage import predict
    from ..train.refit import refit

    recipe = TrainConfig(**{field.name: getattr(config, field.name) for field in dataclasses.fields(TrainConfig)})
    wanted, recorded = manifests.normalised(recipe), manifests.read(paths, "train")["config"]
    if gone := sorted(set(recorded) - set(wanted)):
        log.warning("the validated model was trained with settings this version no longer has (%s); the refit "
                    "cannot repeat them", ", ".join(f"{name} = {recorded[name]}" for name in gone))
    recorded = {name: value for name, value in recorded.items() if name in wanted}
    defaults = manifests.normalised(project(TrainConfig, Settings(task=config.task)))
    if changed := manifests.changed_settings(wanted, recorded, defaults):
        raise PipelineError(f"--stage refit repeats the recipe of the validated model in {paths.model_dir}, but "
                            f"these settings differ from its: {', '.join(changed)}; give the flags it was trained "
                            "with, or run --stage all with the new ones first")
    fingerprint = {"config": wanted,
                   "upstream": {name: manifests.read(paths, name)["digest"] for name in ("train", *TRAIN_UPSTREAM)}}
    refitted = refit(paths, recipe, fingerprint)
    predict(refitted, PredictConfig(task=config.task, engine="keras", output=config.output))


def _run_explore(paths: Paths, config: ExploreConfig) -> None:
    from ..analysis.explore import explore
    explore(paths, config)


def _run_baseline(paths: Paths, config: BaselineConfig) -> None:
    from ..analysis.baseline import baseline
    baseline(paths, config)


def _run_report(paths: Paths, config: ReportConfig) -> None:
    from ..analysis.reports import write_training_report
    write_training_report(paths, config)


def _run_export(paths: Paths, config: ExportConfig) -> None:
    from ..export.stage import export
    export(paths, config)


def _output(settings: Settings, paths: Paths) -> dict:
    return {"output": str(paths.output.resolve())}


def _baseline_output(settings: Settings, paths: Paths) -> dict:
    return {"output": str(paths.output.resolve()) if settings.baseline_model else None}


def _baseline_outputs(paths: Paths) -> list[Path]:
    """The results table and the models it lists (a task with many classes skips some)."""
    import pandas as pd
    fitted = pd.read_csv(paths.baseline_results)["model"]
    return [paths.baseline_results] + [paths.baseline_model(name) for name in fitted]


TRAIN_UPSTREAM = ("features",)

STAGES: tuple[Stage, ...] = (
    Stage("extract", (), ExtractConfig,
          lambda p: [p.sample_submission, p.train_audio_dir, p.test_audio_dir], _run_extract, inputs=_archives),
    Stage("prepare", ("extract",), PrepareConfig, lambda p: [p.index_csv, p.test_index_csv], _run_prepare),
    Stage("features", ("prepare",), FeaturesConfig,
          lambda p: [path for split in FEATURE_SPLITS for path in (p.feature_cache(split), p.feature_table(split))],
          _run_features),
    Stage("train", TRAIN_UPSTREAM, TrainConfig,
          lambda p: [p.model_file, p.labels_file, p.history_csv, p.metrics_json, p.inference_config,
                     *[f for f in (p.verification, p.verification_curve) if f.exists()],  # speakers only
                     *sorted(p.model_dir.glob("listening-*.keras"))],  # a task with a listener only
          _run_train, worker_outputs=lambda p: [p.labels_file, p.history_csv]),
    Stage("predict", ("train", "features", "extract"), PredictConfig,
          lambda p: [p.output, p.probabilities], _run_predict, extra=_output, chief_only=True),
    # after predict, so that the submission is written first
    Stage("operating", ("train", "prepare", "extract"), OperatingConfig,
          lambda p: [p.operating_points, *[f for f in (p.operating_plot,) if f.exists()]],  # none without a listener
          _run_operating, chief_only=True),
)
STAGE_NAMES = tuple(stage.name for stage in STAGES)

# Side stages read what the main chain left and write reports or comparisons; --stage all
# never runs them, and nothing downstream reads them.
SIDE_STAGES: tuple[Stage, ...] = (
    Stage("explore", ("extract", "prepare"), ExploreConfig, lambda p: [p.explore_page], _run_explore),
    Stage("baseline", ("extract", "prepare"), BaselineConfig, _baseline_outputs, _run_baseline,
          extra=_baseline_output),
    # the validated model's recipe on training and validation clips together, and its own submission
    Stage("refit", ("train", "features", "extract"), RefitConfig,
          lambda p: [p.refitted.model_file, p.refitted.inference_config, p.refitted.metrics_json,
                     p.refitted.probabilities, p.output], _run_refit, extra=_output, chief_only=True),
    Stage("report", ("train", "features"), ReportConfig, lambda p: [p.train_report_page], _run_report),
    Stage("export", ("train", "features", "operating"), ExportConfig,
          lambda p: [p.exported_model(False), p.exported_model(True), p.export_labels, p.export_readme,
                     p.export_info, *[p.exported_model(int8, listening=True) for int8 in (False, True)
                                      if p.exported_model(int8, listening=True).exists()]], _run_export),
)
SIDE_STAGE_NAMES = tuple(stage.name for stage in SIDE_STAGES)
_BY_NAME = {stage.name: stage for stage in STAGES + SIDE_STAGES}


def stage_by_name(name: str) -> Stage | None:
    return _BY_NAME.get(name)
