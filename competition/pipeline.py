"""Stages, their manifests, and the decision to skip or rerun each one.

A manifest records what a stage read (the digests of the manifests upstream, or the
archives for extract), the settings that shaped its output, and the size of every file
it wrote. It is written last, so a stage killed half-way leaves no manifest and reruns.
A stage is up to date when all of that still matches; each finished run gets a fresh
digest, so rerunning a stage makes everything after it stale.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Callable

from . import PipelineError
from .config import Paths, Settings
from .io_utils import atomic_write_json, check_writable

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    upstream: tuple[str, ...]
    settings: Callable[[Settings, Paths], dict]
    outputs: Callable[[Paths], list[Path]]
    run: Callable[[Paths, Settings], None]


def _cache_format() -> int:
    from .features import CACHE_FORMAT
    return CACHE_FORMAT


def _silence_levels() -> dict:
    from .dataset import SILENCE_RMS_DECADES
    return {"silence_rms_decades": list(SILENCE_RMS_DECADES)}


def _augmentation() -> dict:
    from .augmentation import AugmentConfig
    return dataclasses.asdict(AugmentConfig())


def _audio(settings: Settings) -> dict:
    return dataclasses.asdict(settings.audio)


def _run_extract(paths: Paths, settings: Settings) -> None:
    from .archives import extract, find_archives
    extract(find_archives(paths.input_dir), paths)


def _run_prepare(paths: Paths, settings: Settings) -> None:
    from .dataset import prepare
    prepare(paths, settings)


def _run_features(paths: Paths, settings: Settings) -> None:
    from .features import build_features
    build_features(paths, settings)


def _run_train(paths: Paths, settings: Settings) -> None:
    from .training import train
    stage = _BY_NAME["train"]
    fingerprint = {"settings": stage.settings(settings, paths),
                   "upstream": {name: read_manifest(paths, name)["digest"] for name in stage.upstream}}
    train(paths, settings, fingerprint)


def _run_predict(paths: Paths, settings: Settings) -> None:
    from .inference import predict
    predict(paths, settings)


def _run_explore(paths: Paths, settings: Settings) -> None:
    from .explore import explore
    explore(paths, settings)


def _run_baseline(paths: Paths, settings: Settings) -> None:
    from .baseline import baseline
    baseline(paths, settings)


def _run_report(paths: Paths, settings: Settings) -> None:
    from .reports import write_training_report
    write_training_report(paths, settings)


def _baseline_outputs(paths: Paths) -> list[Path]:
    from .baseline import MODEL_NAMES
    return [paths.baseline_dir / "results.csv"] + [paths.baseline_dir / f"{name}.joblib" for name in MODEL_NAMES]


STAGES: tuple[Stage, ...] = (
    Stage("extract", (), lambda s, p: {},
          lambda p: [p.sample_submission, p.train_audio_dir, p.test_audio_dir], _run_extract),
    Stage("prepare", ("extract",),
          lambda s, p: {"seed": s.seed, "silence_share": s.silence_share, "sample_rate": s.audio.sample_rate,
                        "extra_validation_share": s.extra_validation_share, "holdout_words": list(s.holdout_words),
                        "unknown_share": s.unknown_share, "digital_silence_share": s.digital_silence_share,
                        "room_tone_share": s.room_tone_share,
                        "noise_bank": s.noise_bank, "require_noise": s.require_noise, "levels": _silence_levels()},
          lambda p: [p.index_csv, p.prepare_dir / "test_index.csv"], _run_prepare),
    Stage("features", ("prepare",),
          lambda s, p: {"audio": _audio(s), "feature_dtype": s.feature_dtype, "format": _cache_format(),
                        "representation": s.cached_representation},
          lambda p: [p.features_dir / f"{split}.{ext}" for split in ("train", "validation", "noise", "test")
                     for ext in ("npy", "csv")], _run_features),
    Stage("train", ("features",),
          lambda s, p: {"seed": s.seed, "epochs": s.epochs, "batch_size": s.batch_size,
                        "learning_rate": s.learning_rate, "model": s.model, "features": s.features, "augment": s.augment,
                        "augmentation": _augmentation() if s.augment else None, "strategy": s.strategy,
                        "patience": s.patience, "ensemble": s.ensemble, "tta": s.tta,
                        "calibrate_unknown": s.calibrate_unknown},
          lambda p: [p.model_file, p.labels_file, p.model_dir / "history.csv", p.model_dir / "metrics.json",
                     p.model_dir / "predict_config.json"],
          _run_train),
    Stage("predict", ("train", "features", "extract"),
          lambda s, p: {"output": str(p.output.resolve())},
          lambda p: [p.output, p.predict_dir / "probabilities.npy"], _run_predict),
)
STAGE_NAMES = tuple(stage.name for stage in STAGES)
_BY_NAME = {stage.name: stage for stage in STAGES}

# Side stages read what the main chain left and write reports or comparisons; --stage all
# never runs them, and nothing downstream reads them.
SIDE_STAGES: tuple[Stage, ...] = (
    Stage("explore", ("extract", "prepare"), lambda s, p: {"seed": s.seed, "explore_per_word": s.explore_per_word},
          lambda p: [p.reports_dir / "explore" / "index.html"], _run_explore),
    Stage("baseline", ("extract", "prepare"),
          lambda s, p: {"seed": s.seed, "baseline_model": s.baseline_model,
                        "output": str(p.output.resolve()) if s.baseline_model else None},
          _baseline_outputs, _run_baseline),
    Stage("report", ("train", "features"), lambda s, p: {"seed": s.seed},
          lambda p: [p.reports_dir / "train" / "index.html"], _run_report),
)
SIDE_STAGE_NAMES = tuple(stage.name for stage in SIDE_STAGES)
_SIDE_BY_NAME = {stage.name: stage for stage in SIDE_STAGES}


def _size(path: Path) -> int:
    """Bytes of a file, or the number of files under a folder."""
    if path.is_dir():
        return sum(1 for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _key(path: Path, paths: Paths) -> str:
    """Outputs inside the work folder are recorded relative to it, so the folder can move."""
    try:
        return path.relative_to(paths.work_dir).as_posix()
    except ValueError:
        return str(path.resolve())


def _inputs(stage: Stage, paths: Paths) -> dict:
    """What a stage reads from outside the work folder."""
    if stage.name == "extract":
        from .archives import archive_fingerprint, find_archives
        return archive_fingerprint(find_archives(paths.input_dir))
    return {}


def read_manifest(paths: Paths, name: str) -> dict | None:
    try:
        return json.loads(paths.manifest(name).read_text())
    except (OSError, ValueError):
        return None


def staleness(stage: Stage, paths: Paths, settings: Settings) -> str | None:
    """Why `stage` must run again, or None when its outputs are up to date."""
    manifest = read_manifest(paths, stage.name)
    if manifest is None:
        return "no finished run recorded"
    wanted = stage.settings(settings, paths)
    if manifest.get("settings") != wanted:
        changed = sorted(k for k in set(wanted) | set(manifest.get("settings", {}))
                         if wanted.get(k) != manifest.get("settings", {}).get(k))
        return f"settings changed ({', '.join(changed)})"
    for name in stage.upstream:
        upstream = read_manifest(paths, name)
        if upstream is None or manifest.get("upstream", {}).get(name) != upstream.get("digest"):
            return f"{name} has changed since"
    try:
        inputs = _inputs(stage, paths)
    except PipelineError:
        inputs = manifest.get("inputs")  # archives removed after extraction: the files still serve
        log.info("stage %s: its input archives are gone; keeping what it extracted", stage.name)
    if manifest.get("inputs") != inputs:
        return "input archives changed"
    for recorded, size in manifest.get("outputs", {}).items():
        path = paths.work_dir / recorded  # an absolute path stays as it is
        if not path.exists() or _size(path) != size:
            return f"output {path} is missing or changed"
    return None


def run_stage(stage: Stage, paths: Paths, settings: Settings) -> None:
    for name in stage.upstream:
        if read_manifest(paths, name) is None:
            raise PipelineError(
                f"stage {stage.name} needs the output of stage {name}, which has not finished in "
                f"{paths.work_dir}; run --stage {name} first (or --stage all)"
            )
        stale = staleness(_BY_NAME[name], paths, settings)
        if stale:
            log.warning("stage %s is out of date (%s); %s uses its output anyway", name, stale, stage.name)
    inputs = _inputs(stage, paths)
    paths.manifest(stage.name).unlink(missing_ok=True)
    log.info("stage %s: running", stage.name)
    started = time.perf_counter()
    stage.run(paths, settings)
    seconds = time.perf_counter() - started
    manifest = {
        "stage": stage.name,
        "settings": stage.settings(settings, paths),
        "upstream": {name: read_manifest(paths, name)["digest"] for name in stage.upstream},
        "inputs": inputs,
        "outputs": {_key(p, paths): _size(p) for p in stage.outputs(paths)},
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "seconds": round(seconds, 1),
    }
    manifest["digest"] = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]
    atomic_write_json(paths.manifest(stage.name), manifest)
    log.info("stage %s: done in %.1f s", stage.name, seconds)


def run(stage_name: str, paths: Paths, settings: Settings, rerun_from: str | None = None) -> None:
    """Run one stage, or with "all" every stage that is out of date (and all from `rerun_from` on)."""
    check_writable(paths.work_dir, "the work folder (--work-dir)")
    check_writable(paths.output.parent, "the submission's folder (--output)")
    if stage_name != "all":
        stage = _BY_NAME.get(stage_name) or _SIDE_BY_NAME.get(stage_name)
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
        run_stage(stage, paths, settings)
