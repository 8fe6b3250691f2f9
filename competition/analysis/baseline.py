"""Side stage baseline: classic classifiers on pooled MFCC16k, validated on the CNN's held-out speakers.

Gives the CNN something to beat, and tells how much of its score the features alone explain.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from .. import PipelineError
from ..core.config import BASELINE_MODELS, AudioConfig, BaselineConfig
from ..core.io import atomic_path
from ..core.metrics import macro_scores
from ..core.paths import Paths
from ..core.workers import chunked, map_chunks
from ..frontend.audio import AudioError, load_clip
from ..frontend.mfcc16k import Mfcc16kConfig, pooled_mfcc
from ..tasks import get_task

log = logging.getLogger(__name__)

MFCC16K = Mfcc16kConfig()
CHUNK_SIZE = 256
MACRO_COLUMNS = ["validation_macro_precision", "validation_macro_recall", "validation_macro_f1"]
RESULT_COLUMNS = ["model", "validation_accuracy", "validation_balanced_accuracy", *MACRO_COLUMNS, "fit_seconds",
                  "predict_seconds", "model_bytes"]


def make_model(name: str, config: BaselineConfig):
    """An unfitted scikit-learn model, its classes balanced as the CNN trains (the forest by fit_model)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    seed = config.seed
    factories = {
        "knn": lambda: make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=3)),
        "logreg": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced")),
        # leaves of at least 3 clips: fully grown trees would make the saved forest huge at full scale
        "forest": lambda: RandomForestClassifier(n_estimators=100, min_samples_leaf=3,  # balanced by fit_model
                                                 n_jobs=config.workers, random_state=seed),
        "linear-svm": lambda: make_pipeline(StandardScaler(), LinearSVC(C=0.1, class_weight="balanced",
                                                                        max_iter=5000, random_state=seed)),
        "boosting": lambda: HistGradientBoostingClassifier(max_iter=100, early_stopping=False,
                                                           class_weight="balanced", random_state=seed),
    }
    if name not in factories:
        raise PipelineError(f"--baseline-model must be one of {', '.join(BASELINE_MODELS)}; got {name!r}")
    return factories[name]()


# Balanced through weights per clip in fit_model rather than class_weight="balanced": the forest's own
# option fails on labels that read as numbers (speaker ids such as 47938606; scikit-learn 1.9), and
# the weights per clip are the same numbers.
WEIGHTED_BY_CLIP = ("forest",)


# Boosting grows one tree per class per round, and a forest's every node holds a row per class:
# at the full competition's ~1,500 speakers, hours and tens of GB. Above this many classes they are
# skipped (kaggle-mini's 168 speakers still fit, in minutes).
PER_CLASS_TREES = ("forest", "boosting")
TREE_MAX_CLASSES = 200


def fit_model(name: str, model, x: np.ndarray, y: np.ndarray):
    """Fit a model of make_model on (x, y)."""
    from sklearn.utils.class_weight import compute_sample_weight

    if name in WEIGHTED_BY_CLIP:
        return model.fit(x, y, sample_weight=compute_sample_weight("balanced", y))
    return model.fit(x, y)


def _pooled_chunk(args: tuple[list[tuple[str, int, float]], AudioConfig]) -> tuple[np.ndarray, list[str]]:
    """Pooled MFCCs of a chunk; an unreadable clip gets a row of NaN and a message."""
    sources, audio = args
    clips, failures = [], []
    for path, offset, gain in sources:
        try:
            clips.append(load_clip(Path(path), audio, offset, gain))
        except AudioError as error:
            clips.append(np.full(audio.clip_samples, np.nan, np.float32))
            failures.append(str(error))
    cepstra = dataclasses.replace(MFCC16K, sample_rate=audio.sample_rate, fmax=min(MFCC16K.fmax, audio.sample_rate / 2))
    return pooled_mfcc(np.stack(clips), cepstra), failures


def pooled_features(paths: Paths, config: BaselineConfig, split: str, table: pd.DataFrame) -> np.ndarray:
    """(clips, features) for `table`'s rows, NaN rows where unreadable; cached under baseline/,
    keyed by the rows and the feature settings."""
    rows = list(zip(table["path"], table["offset"].astype(int), table["gain"].astype(float)))
    key = hashlib.sha256(json.dumps([config.cache_format, dataclasses.asdict(MFCC16K), dataclasses.asdict(config.audio),
                                     rows]).encode()).hexdigest()[:16]
    target = paths.baseline_cache(split, key)
    if target.exists():
        log.info("%s: pooled MFCC16k of %d clips from the cache %s", split, len(rows), target)
        return np.load(target)
    jobs = [([(str(paths.extract_dir / p), o, g) for p, o, g in part], config.audio)
            for part in chunked(rows, CHUNK_SIZE)]
    blocks = []
    with tqdm(total=len(rows), desc=f"baseline: MFCC16k {split}", unit="clip") as progress:
        results = list(_progress(map_chunks(_pooled_chunk, jobs, config.workers), progress))
    for block, failures in results:
        blocks.append(block)
        for message in failures:
            log.warning("unreadable clip: %s", message)
    features = np.concatenate(blocks) if blocks else np.zeros((0, 6 * MFCC16K.n_mfcc), np.float32)
    for stale in paths.baseline_dir.glob(paths.baseline_cache(split, "*").name):
        stale.unlink()  # a cache for other rows or settings would only fill the disk
    with atomic_path(target) as temp:
        np.save(temp, features)
    return features


def _progress(results, progress: tqdm):
    for block, failures in results:
        progress.update(len(block))
        yield block, failures


def _labelled(paths: Paths, config: BaselineConfig, index: pd.DataFrame, split: str) -> tuple[np.ndarray, np.ndarray]:
    table = index[index["split"] == split].reset_index(drop=True)
    if table.empty:
        raise PipelineError(f"{paths.index_csv} has no {split} rows; rerun --stage prepare")
    features = pooled_features(paths, config, split, table)
    readable = np.isfinite(features).all(axis=1)
    if not readable.all():
        log.warning("%s: %d of %d clips unreadable, left out", split, int((~readable).sum()), len(readable))
    return features[readable], table["label"].to_numpy(str)[readable]


def baseline(paths: Paths, config: BaselineConfig) -> pd.DataFrame:
    """Fit every model on the train split, score it on validation, save it; returns the table."""
    import joblib
    from sklearn.metrics import balanced_accuracy_score, confusion_matrix
    from threadpoolctl import threadpool_limits

    try:
        index = pd.read_csv(paths.index_csv, keep_default_na=False, dtype={"label": str, "speaker": str})
    except (OSError, ValueError) as error:
        raise PipelineError(f"{paths.index_csv}: cannot read it ({error}); run --stage prepare first") from error
    x_train, y_train = _labelled(paths, config, index, "train")
    x_val, y_val = _labelled(paths, config, index, "validation")
    log.info("baseline: %d training and %d validation clips, %d pooled MFCC16k features each",
             len(y_train), len(y_val), x_train.shape[1])
    n_classes = len(set(y_train))
    fitted = [name for name in BASELINE_MODELS if name not in PER_CLASS_TREES or n_classes <= TREE_MAX_CLASSES]
    if skipped := sorted(set(BASELINE_MODELS) - set(fitted)):
        log.info("baseline: %s skipped: %d classes (more than %d); they grow a tree or a tree row per class "
                 "and would take hours or tens of GB", ", ".join(skipped), n_classes, TREE_MAX_CLASSES)
        for name in skipped:  # an earlier run's file must not pass for this one's
            paths.baseline_model(name).unlink(missing_ok=True)
    if config.baseline_model and config.baseline_model not in fitted:
        raise PipelineError(f"--baseline-model {config.baseline_model} is not fitted on {n_classes} classes "
                            f"(at most {TREE_MAX_CLASSES}); choose one of {', '.join(fitted)}")
    rows = []
    for name in tqdm(fitted, desc="baseline: models", unit="model"):
        model = make_model(name, config)
        # One BLAS/OpenMP thread: their threads spin at barriers, and on a busy machine a niced run
        # measured 25 s against 0.4 s (logistic regression) and 602 s against 16 s (boosting).
        # The forest still uses --workers, through joblib, which does not spin.
        with threadpool_limits(1):
            started = time.perf_counter()
            fit_model(name, model, x_train, y_train)
            fitted = time.perf_counter()
            predicted = model.predict(x_val)
            done = time.perf_counter()
        target = paths.baseline_model(name)
        with atomic_path(target) as temp:
            joblib.dump(model, temp, compress=3)  # a forest shrinks about five times
        labels = sorted({*model.classes_, *y_val})
        matrix = pd.DataFrame(confusion_matrix(y_val, predicted, labels=labels), index=labels, columns=labels)
        rows.append({"model": name, "validation_accuracy": float((predicted == y_val).mean()),
                     "validation_balanced_accuracy": float(balanced_accuracy_score(y_val, predicted)),
                     **{f"validation_{k}": v for k, v in macro_scores(matrix).items()},
                     "fit_seconds": round(fitted - started, 2), "predict_seconds": round(done - fitted, 3),
                     "model_bytes": target.stat().st_size})
        log.info("baseline %s: validation accuracy %.4f", name, rows[-1]["validation_accuracy"])
    results = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    with atomic_path(paths.baseline_results) as temp:
        results.to_csv(temp, index=False)
    log.info("baseline models on %d validation clips (prediction time is for all of them):\n%s",
             len(y_val), results.to_string(index=False))
    if config.baseline_model:
        write_submission(paths, config, joblib.load(paths.baseline_model(config.baseline_model)))
    return results


def write_submission(paths: Paths, config: BaselineConfig, model) -> pd.DataFrame:
    """Predict every test clip with `model` into --output, checked against sample_submission.csv."""
    task = get_task(config.task)
    test = pd.read_csv(paths.test_index_csv, keep_default_na=False).assign(offset=0, gain=1.0)
    features = pooled_features(paths, config, "test", test)
    readable = np.isfinite(features).all(axis=1)
    classes = [str(label) for label in model.classes_]
    fallback = task.fallback_label(classes)
    labels = np.full(len(test), fallback, dtype=object)
    if readable.any():
        labels[readable] = model.predict(features[readable])
    if not readable.all():
        log.warning("%d unreadable test clips get the fallback label %r (listed above)",
                    int((~readable).sum()), fallback)
    submission = task.write_submission(paths.output, test["fname"], labels, paths.sample_submission, classes)
    log.info("wrote %s with baseline model %s: %d rows", paths.output, config.baseline_model, len(submission))
    return submission
