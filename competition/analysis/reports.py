"""The evaluation report written after training (reports/train/)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .. import PipelineError
from ..core.config import ReportConfig
from ..core.io import atomic_dir, atomic_path
from ..core.paths import Paths
from .html import Item, write_index

log = logging.getLogger(__name__)

EMBEDDING_CLIPS = 2000  # validation clips in the embedding scatter; enough to see the clusters


def per_class_scores(matrix: pd.DataFrame) -> pd.DataFrame:
    """Precision, recall, F1 and support per label from a confusion matrix (rows true, columns predicted)."""
    counts = matrix.to_numpy(float)
    correct = np.diag(counts)
    support, predicted = counts.sum(axis=1), counts.sum(axis=0)
    precision = np.divide(correct, predicted, out=np.zeros_like(correct), where=predicted > 0)
    recall = np.divide(correct, support, out=np.zeros_like(correct), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(correct), where=total > 0)
    return pd.DataFrame({"precision": precision, "recall": recall, "f1": f1, "support": support.astype(int)},
                        index=pd.Index(matrix.index, name="label"))


def _read_model_outputs(paths: Paths) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    needed = [paths.history_csv, paths.confusion_csv, paths.metrics_json, paths.model_file,
              paths.feature_cache("validation"), paths.feature_table("validation")]
    if missing := [str(p) for p in needed if not p.exists()]:
        raise PipelineError(f"the training report needs {', '.join(missing)}: run --stage train first "
                            "(and --stage features before it)")
    return (pd.read_csv(needed[0]), pd.read_csv(needed[1], index_col=0),
            json.loads(needed[2].read_text()))


def validation_embeddings(paths: Paths, config: ReportConfig) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate-layer outputs of the saved model for a seeded sample of readable validation
    clips, and their labels."""
    import keras

    from .. import models  # noqa: F401  registers the custom layers the saved model uses

    model = keras.models.load_model(paths.model_file)
    dense = [i for i, layer in enumerate(model.layers) if isinstance(layer, keras.layers.Dense)]
    if not dense or dense[-1] == 0:
        raise PipelineError(f"{paths.model_file}: expected a model that ends in a Dense layer")
    embedder = keras.Model(inputs=model.inputs, outputs=model.layers[dense[-1] - 1].output)
    features = np.load(paths.feature_cache("validation"), mmap_mode="r")
    table = pd.read_csv(paths.feature_table("validation"), keep_default_na=False)
    if len(table) != len(features):
        raise PipelineError(f"{paths.features_dir}: validation.npy and validation.csv disagree; rerun --stage features")
    rows = np.flatnonzero(table["readable"].to_numpy(bool))
    if len(rows) > EMBEDDING_CLIPS:
        rows = np.sort(np.random.default_rng(config.seed).choice(rows, EMBEDDING_CLIPS, replace=False))
    x = np.asarray(features[rows], dtype=np.float32)
    embeddings = np.concatenate([embedder.predict_on_batch(x[i:i + 256]) for i in range(0, len(x), 256)])
    return embeddings.reshape(len(x), -1), table["label"].to_numpy(str)[rows]


def write_training_report(paths: Paths, config: ReportConfig) -> Path:
    """reports/train/: curves, confusion matrix, per-class scores, size, and validation embeddings."""
    from sklearn.decomposition import PCA

    from . import plots

    history, matrix, metrics = _read_model_outputs(paths)
    scores = per_class_scores(matrix)
    embeddings, labels = validation_embeddings(paths, config)
    components = min(3, *embeddings.shape)
    pca = PCA(n_components=components, random_state=config.seed).fit(embeddings)
    points = np.pad(pca.transform(embeddings), ((0, 0), (0, 3 - components)))
    explained = np.pad(pca.explained_variance_ratio_, (0, 3 - components))
    folder = paths.train_report
    with atomic_dir(folder) as temp:
        with atomic_path(temp / "per_class.csv") as target:
            scores.to_csv(target)
        plots.training_curves(temp / "training_curves.png", history)
        plots.confusion(temp / "confusion_matrix.png", matrix,
                        f"validation confusion matrix ({int(matrix.to_numpy().sum()):,} clips, held-out speakers)")
        plots.pca_scatter_3d(temp / "embeddings_pca.png", points, labels, explained,
                             f"penultimate-layer embeddings of {len(labels):,} validation clips, first 3 PCs")
        summary = pd.DataFrame({"value": [
            f"{metrics.get('validation_accuracy', float('nan')):.4f}",
            f"{metrics.get('validation_balanced_accuracy', float('nan')):.4f}",
            str(metrics.get("unknown_threshold", "")), f"{metrics.get('parameters', 0):,}",
            f"{metrics.get('model_bytes', 0):,}"]},
            index=["validation accuracy", "balanced validation accuracy", "unknown threshold",
                   "parameters", "saved model(s), bytes"])
        best, worst = scores["f1"].idxmax(), scores["f1"].idxmin()
        last = history.groupby("member").tail(1)
        items: list[Item] = [
            (f"Model: {metrics.get('parameters', 0):,} parameters, {metrics.get('model_bytes', 0):,} bytes saved; "
             f"validation accuracy {metrics.get('validation_accuracy', float('nan')):.3f}.", summary),
            (f"Training curves: {len(history)} epochs over {history['member'].nunique()} member(s); last epoch "
             f"validation accuracy {last['val_accuracy'].mean():.3f}, training {last['accuracy'].mean():.3f}.",
             "training_curves.png"),
            (f"Confusion matrix: the largest off-diagonal cell is {_worst_confusion(matrix)}.", "confusion_matrix.png"),
            (f"Per-class scores: best F1 {best} ({scores.loc[best, 'f1']:.3f}), worst {worst} "
             f"({scores.loc[worst, 'f1']:.3f}).", scores),
            (f"Validation embeddings: the first three components explain {explained.sum():.0%} of the variance; "
             "separate clusters are labels the network tells apart.", "embeddings_pca.png"),
        ]
        write_index(temp, "Training report", f"Model {paths.model_file}, validated on held-out speakers.", items)
    log.info("training report: %s", paths.train_report_page)
    return paths.train_report_page


def _worst_confusion(matrix: pd.DataFrame) -> str:
    counts = matrix.to_numpy().copy()
    np.fill_diagonal(counts, 0)
    if counts.max() == 0:
        return "empty: no mistakes"
    row, column = np.unravel_index(counts.argmax(), counts.shape)
    return f"{matrix.index[row]} heard as {matrix.columns[column]} ({counts[row, column]} clips)"
