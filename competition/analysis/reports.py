"""The evaluation report written after training (reports/train/)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from .. import PipelineError
from ..core.config import AudioConfig, ReportConfig
from ..core.io import atomic_dir, atomic_path
from ..core.labels import LABELS, UNKNOWN_LABEL
from ..core.metrics import confused_pairs, per_class_scores
from ..core.paths import Paths
from ..data.prepare import CLIP, NOISE_WINDOW, ROOM_TONE
from ..frontend.audio import AudioError, load_clip, load_room_tone
from . import interactive
from .html import Item, Listen, wav_bytes, write_index

log = logging.getLogger(__name__)

EMBEDDING_CLIPS = 2000  # validation clips in the embedding scatter; enough to see the clusters
CONFIDENT_MISTAKES = 20  # the wrong answers the model was surest of, each with a player
# a task with more classes than this (speakers) colours only this many, those with most clips;
# the rest share one grey 'other'
TOP_CLASSES = 20
# beyond this many classes a confusion grid is unreadable: the report lists the most confused pairs
GRID_CLASSES = 30


def read_confusion_matrix(path: Path) -> pd.DataFrame:
    """model/confusion_matrix.csv as counts, rows true and columns predicted; class names stay text
    (a speaker id such as 1e5 is not a number)."""
    return pd.read_csv(path, index_col=0, dtype=str, keep_default_na=False).astype(int)


def training_clips(paths: Paths) -> pd.Series:
    """Readable training clips per class: where a class with few clips stands shows beside its scores."""
    table = pd.read_csv(paths.feature_table("train"), keep_default_na=False, dtype={"label": str},
                        usecols=["label", "readable"])
    return table.loc[table["readable"].astype(bool), "label"].value_counts().rename("training_clips")


def _read_model_outputs(paths: Paths) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    needed = [paths.history_csv, paths.confusion_csv, paths.metrics_json, paths.model_file,
              paths.feature_cache("validation"), paths.feature_table("validation"), paths.feature_table("train")]
    if missing := [str(p) for p in needed if not p.exists()]:
        raise PipelineError(f"the training report needs {', '.join(missing)}: run --stage train first "
                            "(and --stage features before it)")
    return pd.read_csv(needed[0]), read_confusion_matrix(needed[1]), json.loads(needed[2].read_text())


def validation_predictions(paths: Paths) -> tuple[pd.DataFrame, AudioConfig]:
    """The readable rows of features/validation.csv (indexed by cache row) with the saved model's
    decision as predict makes it (members, test-time shifts, calibrated threshold), so the rows
    add up to the confusion matrix: `predicted`, `confidence` (the probability of the predicted
    label) and `p_true`. Also the audio settings the model was trained with."""
    from ..inference.predictor import Predictor

    predictor = Predictor.load(paths, "keras")
    features = np.load(paths.feature_cache("validation"), mmap_mode="r")
    table = pd.read_csv(paths.feature_table("validation"), keep_default_na=False,
                        dtype={"label": str, "speaker": str})
    if len(table) != len(features):
        raise PipelineError(f"{paths.features_dir}: validation.npy has {len(features)} rows but validation.csv has "
                            f"{len(table)}; rerun --stage features")
    table = table[table["readable"].to_numpy(bool)]
    if outside := sorted(set(table["label"]) - set(predictor.labels)):
        raise PipelineError(f"{paths.feature_table('validation')}: labels {outside[:5]} are not among the model's "
                            f"{paths.labels_file}; rerun --stage features and --stage train")
    # all readable rows at once and as float32, as the train stage calibrated on them: the same batches
    probabilities = predictor.probabilities(np.asarray(features[table.index], dtype=np.float32),
                                            progress="report: validation")
    column = {label: i for i, label in enumerate(predictor.labels)}
    predicted = predictor.decide(probabilities)
    chosen = probabilities[np.arange(len(table)), [column[p] for p in predicted]]
    true = probabilities[np.arange(len(table)), table["label"].map(column).to_numpy(int)]
    return table.assign(predicted=predicted, confidence=chosen, p_true=true), predictor.config.audio


def validation_embeddings(paths: Paths, config: ReportConfig,
                          n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Penultimate-layer outputs of the saved model for a seeded sample of readable validation
    clips, their labels and their rows in the validation cache. With more than GRID_CLASSES
    classes (speakers) only the clips of the TOP_CLASSES classes with most clips: a PCA of them
    alone shows how apart they lie, one over hundreds of speakers would not."""
    import keras

    from .. import models  # noqa: F401  registers the custom layers the saved model uses
    from ..inference.engines import KerasMember

    model = KerasMember(keras.models.load_model(paths.model_file))
    features = np.load(paths.feature_cache("validation"), mmap_mode="r")
    table = pd.read_csv(paths.feature_table("validation"), keep_default_na=False, dtype={"label": str})
    if len(table) != len(features):
        raise PipelineError(f"{paths.features_dir}: validation.npy and validation.csv disagree; rerun --stage features")
    rows = np.flatnonzero(table["readable"].to_numpy(bool))
    if n_classes > GRID_CLASSES:
        counts = table["label"].iloc[rows].value_counts()
        top = counts.index[np.lexsort((counts.index.to_numpy(str), -counts.to_numpy()))[:TOP_CLASSES]]
        rows = rows[table["label"].iloc[rows].isin(top).to_numpy()]
    if len(rows) > EMBEDDING_CLIPS:
        rows = np.sort(np.random.default_rng(config.seed).choice(rows, EMBEDDING_CLIPS, replace=False))
    return model.embed(np.asarray(features[rows], dtype=np.float32)), table["label"].to_numpy(str)[rows], rows


def clip_name(row, rate: int) -> str:
    """A validation row's file; a silence window also says where in its noise file it starts
    (for room tone, the offset is a phase in the looped quiet stretch, not a time in the file)."""
    if row.kind != CLIP and not row.gain:
        return "digital silence"  # a window planned at gain 0: what was read from the file does not count
    if row.kind == ROOM_TONE:
        return f"{row.path} (room tone)"
    return f"{row.path} from {row.offset / rate:.2f} s" if row.kind == NOISE_WINDOW else row.path


def confident_mistakes(paths: Paths, validation: pd.DataFrame, audio: AudioConfig,
                       count: int = CONFIDENT_MISTAKES) -> Listen:
    """The `count` wrong answers with the highest confidence, each with its clip as the features
    stage read it (a silence window cut from its noise file, room tone looped)."""
    wrong = validation[validation["label"] != validation["predicted"]]
    wrong = wrong.sort_values("confidence", ascending=False, kind="stable").head(count)
    rows, wavs = [], []
    for row in tqdm(wrong.itertuples(), total=len(wrong), desc="report: mistakes' audio", unit="clip"):
        load = load_room_tone if row.kind == ROOM_TONE else load_clip
        try:
            clip = load(paths.extract_dir / row.path, audio, int(row.offset), float(row.gain))
        except AudioError as error:  # read for the features, gone since: the row stays out of the table
            log.warning("no player for a mistake: %s", error)
            continue
        wavs.append(wav_bytes(clip, audio.sample_rate))
        rows.append({"file": clip_name(row, audio.sample_rate), "speaker": row.speaker, "true": row.label,
                     "predicted": row.predicted, "confidence": float(row.confidence), "p_true": float(row.p_true)})
    table = pd.DataFrame(rows, columns=["file", "speaker", "true", "predicted", "confidence", "p_true"])
    table.index = pd.RangeIndex(1, len(table) + 1, name="rank")
    return Listen(table, wavs)


def embedding_view(points: np.ndarray, labels: np.ndarray, hover: pd.DataFrame, mistakes: np.ndarray,
                   explained: np.ndarray, classes: list[str], seed: int) -> interactive.Interactive:
    """The validation embeddings in 3-D, coloured by true label, mistakes ringed. A task with
    more than TOP_CLASSES classes (speakers) shows the TOP_CLASSES with most clips in colour."""
    from . import plots

    top = TOP_CLASSES if len(classes) > TOP_CLASSES else None
    return interactive.label_scatter_3d(
        points, labels, hover, mistakes, marked_name="mistakes", explained=explained,
        title="penultimate-layer embeddings of validation clips, first 3 PCs", div_id="embeddings-3d",
        limit=EMBEDDING_CLIPS, seed=seed, top=top, order=classes,
        colours=interactive.hex_colours(plots.label_colours()) if set(classes) <= set(LABELS) else None,
        faint=(UNKNOWN_LABEL,))


def write_training_report(paths: Paths, config: ReportConfig) -> Path:
    """reports/train/: curves, confusion matrix, per-class scores, size, validation embeddings
    (a PNG and a 3-D view) and the surest mistakes with players."""
    from sklearn.decomposition import PCA

    from . import plots

    history, matrix, metrics = _read_model_outputs(paths)
    task_scores = {k: v for k, v in metrics.get("task_scores", {}).items() if isinstance(v, int | float)}
    held_out = "held-out speakers" if "top1_new_word" not in task_scores else "held-out clips of known speakers"
    scores = per_class_scores(matrix).join(training_clips(paths))
    validation, audio = validation_predictions(paths)
    embeddings, labels, rows = validation_embeddings(paths, config, len(matrix))
    components = min(3, *embeddings.shape)
    pca = PCA(n_components=components, random_state=config.seed).fit(embeddings)
    points = np.pad(pca.transform(embeddings), ((0, 0), (0, 3 - components)))
    explained = np.pad(pca.explained_variance_ratio_, (0, 3 - components))
    sampled = validation.loc[rows]
    hover = pd.DataFrame({"file": [clip_name(r, audio.sample_rate) for r in sampled.itertuples()],
                          "true": sampled["label"].to_numpy(), "predicted": sampled["predicted"].to_numpy()})
    mistakes = (sampled["label"] != sampled["predicted"]).to_numpy()
    view = embedding_view(points, labels, hover, mistakes, explained, list(matrix.index), config.seed)
    wrong = confident_mistakes(paths, validation, audio)
    folder = paths.train_report
    with atomic_dir(folder) as temp:
        with atomic_path(temp / "per_class.csv") as target:
            scores.to_csv(target)
        plots.training_curves(temp / "training_curves.png", history)
        if len(matrix) <= GRID_CLASSES:
            plots.confusion(temp / "confusion_matrix.png", matrix,
                            f"validation confusion matrix ({int(matrix.to_numpy().sum()):,} clips, {held_out})")
            confusion: Item = (f"Confusion matrix: the largest off-diagonal cell is {_worst_confusion(matrix)}.",
                               "confusion_matrix.png")
        else:
            confusion = (f"The {TOP_CLASSES} most confused pairs of the {len(matrix)} classes (a grid this size "
                         "cannot be read; confusion_matrix.csv beside the model has it whole). share of true: "
                         "the share of the true class's clips taken for the other:",
                         confused_pairs(matrix, TOP_CLASSES).set_index("true"))
        verification_items = verification_report(paths, temp)
        plots.pca_scatter_3d(temp / "embeddings_pca.png", points, labels, explained,
                             f"penultimate-layer embeddings of {len(labels):,} validation clips, first 3 PCs")
        summary = pd.DataFrame({"value": [
            f"{metrics.get('validation_accuracy', float('nan')):.4f}",
            f"{metrics.get('validation_balanced_accuracy', float('nan')):.4f}",
            f"{metrics.get('parameters', 0):,}", f"{metrics.get('model_bytes', 0):,}"]},
            index=["validation accuracy", "balanced validation accuracy", "parameters", "saved model(s), bytes"])
        if len(metrics.get("validation_balanced_accuracy_by_threshold", {})) > 1:  # a task that calibrates one
            summary.loc["unknown threshold"] = str(metrics.get("unknown_threshold", ""))
        for name, value in task_scores.items():
            summary.loc[TASK_SCORE_NAMES.get(name, name.replace("_", " "))] = f"{value:.4g}"
        best, worst = scores["f1"].idxmax(), scores["f1"].idxmin()
        last = history.groupby("member").tail(1)
        items: list[Item] = [
            (f"Model: {metrics.get('parameters', 0):,} parameters, {metrics.get('model_bytes', 0):,} bytes saved; "
             f"validation accuracy {metrics.get('validation_accuracy', float('nan')):.3f}.", summary),
            (f"Training curves: {len(history)} epochs over {history['member'].nunique()} member(s); last epoch "
             f"validation accuracy {last['val_accuracy'].mean():.3f}, training {last['accuracy'].mean():.3f}.",
             "training_curves.png"),
            confusion,
            (f"Per-class scores: best F1 {best} ({scores.loc[best, 'f1']:.3f}), worst {worst} "
             f"({scores.loc[worst, 'f1']:.3f}); training clips: how many the class had to learn from."
             + ("" if len(scores) <= GRID_CLASSES else f" The {TOP_CLASSES // 2} best and worst by F1 of the "
                f"{len(scores)} (per_class.csv has every one):"), shown_scores(scores)),
            (f"Validation embeddings: the first three components explain {explained.sum():.0%} of the variance; "
             f"separate clusters are labels the network tells apart. Below in 3-D ({len(labels):,} clips, "
             f"{int(mistakes.sum())} mistakes ringed): drag to turn, hover a point for its file, true and predicted "
             "label, click a label in the legend to hide it.", ["embeddings_pca.png", view]),
            *verification_items,
            (f"The {len(wrong.table)} validation clips the model got wrong most confidently (confidence: the "
             "probability it gave the label it chose; p true: the one it gave the right label), each with a player "
             f"(as the features stage read it, at {audio.sample_rate / 1000:g} kHz):", wrong),
        ]
        write_index(temp, "Training report", f"Model {paths.model_file}, validated on {held_out}.", items)
    log.info("training report: %s", paths.train_report_page)
    return paths.train_report_page


def shown_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Every class of a small task; the best and worst TOP_CLASSES / 2 by F1 of a task of hundreds."""
    if len(scores) <= GRID_CLASSES:
        return scores
    ranked = scores.sort_values(["f1", "support"], ascending=[False, False], kind="stable")
    half = TOP_CLASSES // 2
    return pd.concat([ranked.head(half), ranked.tail(half)])


TASK_SCORE_NAMES = {"top1": "top-1 accuracy", "top5": "top-5 accuracy",
                    "top1_new_word": "top-1 on a word the speaker never says in training",
                    "new_word_clips": "validation clips of such words"}


def verification_report(paths: Paths, folder: Path) -> list[Item]:
    """The DET figure and numbers of the verification train measured, if it measured one."""
    from ..tasks.verification import Verification
    from . import plots

    if not paths.verification.exists():
        return []
    verification = Verification.load(paths.verification)
    plots.detection_error_tradeoff(folder / "verification_det.png", verification.curve, verification.eer,
                                   f"verification on {verification.speakers:,} speakers never trained on")
    return [(f"Verification on voices never trained on: {verification.clips:,} clips of {verification.speakers:,} "
             f"speakers with fewer clips than the classes need; every pair scored by the cosine of their "
             f"embeddings ({verification.same_pairs:,} same-speaker, {verification.different_pairs:,} "
             f"different-speaker pairs). Equal error rate {verification.eer:.1%}: at the threshold where as many "
             "different-speaker pairs are accepted as same-speaker pairs refused. Lower and further left is better.",
             "verification_det.png")]


def _worst_confusion(matrix: pd.DataFrame) -> str:
    counts = matrix.to_numpy().copy()
    np.fill_diagonal(counts, 0)
    if counts.max() == 0:
        return "empty: no mistakes"
    row, column = np.unravel_index(counts.argmax(), counts.shape)
    return f"{matrix.index[row]} heard as {matrix.columns[column]} ({counts[row, column]} clips)"
