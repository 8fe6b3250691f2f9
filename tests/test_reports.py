"""The training report (reports/train/), on the model trained once on the tiny competition."""
import base64
import io
import json
import re

import numpy as np
import pandas as pd
import pytest
import scipy.io.wavfile

from competition import PipelineError, stages
from competition.analysis.reports import (
    CONFIDENT_MISTAKES,
    per_class_scores,
    validation_predictions,
    write_training_report,
)
from competition.core.config import Settings
from competition.core.labels import LABELS
from competition.core.paths import Paths
from competition.stages import manifests

FIGURES = ["training_curves.png", "confusion_matrix.png", "embeddings_pca.png"]


def test_report_shows_curves_confusion_scores_size_and_embeddings(finished_run):
    paths, settings = finished_run
    index = write_training_report(paths, settings)
    folder = paths.reports_dir / "train"
    assert index == folder / "index.html"
    assert sorted(p.name for p in folder.glob("*.png")) == sorted(FIGURES)
    page = index.read_text()
    assert re.findall(r"<img src='([^']+)'", page) == FIGURES
    metrics = json.loads((paths.model_dir / "metrics.json").read_text())
    assert f"{metrics['parameters']:,} parameters" in page and f"{metrics['model_bytes']:,}" in page
    assert page.count("<table") == 3  # the summary, the per-class scores and the surest mistakes


def test_per_class_table_matches_the_confusion_matrix(finished_run):
    paths, settings = finished_run
    write_training_report(paths, settings)
    scores = pd.read_csv(paths.reports_dir / "train" / "per_class.csv", index_col="label")
    matrix = pd.read_csv(paths.model_dir / "confusion_matrix.csv", index_col=0)
    assert list(scores.columns) == ["precision", "recall", "f1", "support", "training_clips"]
    assert list(scores.index) == list(LABELS)
    train = pd.read_csv(paths.feature_table("train"))
    assert scores["training_clips"].to_dict() == train.loc[train["readable"], "label"].value_counts().to_dict()
    assert scores["support"].sum() == matrix.to_numpy().sum()
    assert scores[["precision", "recall", "f1"]].stack().between(0, 1).all()


def test_per_class_scores_by_hand():
    matrix = pd.DataFrame([[8, 2, 0], [1, 3, 0], [0, 0, 0]], index=["a", "b", "c"], columns=["a", "b", "c"])
    scores = per_class_scores(matrix)
    assert scores.loc["a", "precision"] == pytest.approx(8 / 9) and scores.loc["a", "recall"] == pytest.approx(0.8)
    assert scores.loc["b", "f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert scores.loc["c"].tolist() == [0.0, 0.0, 0.0, 0]  # no clips, no predictions: zeros, not NaN
    assert list(scores["support"]) == [10, 4, 0]


def test_report_stage_rewrites_the_folder_and_records_a_manifest(finished_run):
    paths, settings = finished_run
    stale = paths.reports_dir / "train" / "old_figure.png"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"left from an earlier run")
    stages.run("report", paths, settings)
    assert not stale.exists()
    assert set(manifests.read(paths, "report")["outputs"]) == {"reports/train/index.html"}
    assert "report" not in stages.STAGE_NAMES


def test_report_without_a_model_says_to_train_first(tmp_path):
    paths = Paths(input_dir=tmp_path, work_dir=tmp_path / "work", output=tmp_path / "out.csv")
    with pytest.raises(PipelineError, match="run --stage train first"):
        write_training_report(paths, Settings(workers=1))
    with pytest.raises(PipelineError, match="needs the output of stage train.*run --stage train first"):
        stages.run("report", paths, Settings(workers=1))


def test_embeddings_come_from_the_layer_before_the_classifier(finished_run):
    from competition.analysis.reports import validation_embeddings

    paths, settings = finished_run
    embeddings, labels, rows = validation_embeddings(paths, settings, len(LABELS))
    table = pd.read_csv(paths.features_dir / "validation.csv")
    assert len(embeddings) == len(labels) == len(rows) == int(table["readable"].sum())
    assert list(labels) == list(table["label"].iloc[rows])
    assert embeddings.ndim == 2 and embeddings.shape[1] != len(LABELS) and np.isfinite(embeddings).all()


def test_a_validation_rows_name_says_what_a_silence_row_is():
    from competition.analysis.reports import clip_name

    rows = pd.DataFrame({"path": ["a/x.wav", "noise/tap.wav", "noise/tap.wav", "b/y.wav"],
                         "offset": [0, 24_000, 8_000, 123], "gain": [1.0, 0.5, 0.0, 0.7],
                         "kind": ["clip", "noise-window", "noise-window", "room-tone"]})
    assert [clip_name(r, 16_000) for r in rows.itertuples()] == [
        "a/x.wav", "noise/tap.wav from 1.50 s", "digital silence", "b/y.wav (room tone)"]


def test_the_reports_predictions_add_up_to_the_confusion_matrix(finished_run):
    paths, _ = finished_run
    validation, audio = validation_predictions(paths)
    matrix = pd.read_csv(paths.model_dir / "confusion_matrix.csv", index_col=0)
    counted = pd.crosstab(validation["label"], validation["predicted"]).reindex(
        index=matrix.index, columns=matrix.columns, fill_value=0)
    assert (counted.to_numpy() == matrix.to_numpy()).all()
    assert validation[["confidence", "p_true"]].stack().between(0, 1).all()
    assert audio.sample_rate == 16_000


def test_the_page_has_the_3d_embeddings_and_a_player_for_each_surest_mistake(finished_run):
    from competition.core.config import AudioConfig
    from competition.frontend.audio import load_clip, load_room_tone

    paths, settings = finished_run
    page = write_training_report(paths, settings).read_text()
    validation, audio = validation_predictions(paths)
    wrong = validation[validation["label"] != validation["predicted"]]
    assert re.findall(r"<script src='([^']+)'", page) == ["plotly.min.js"]
    assert (paths.reports_dir / "train" / "plotly.min.js").is_file() and not re.search(r"https?://", page)
    assert '"embeddings-3d"' in page and f"{len(validation):,} points shown" in page  # all: fewer than the limit
    assert f"mistakes ({len(wrong)})" in page
    hover = r"file: %{customdata[0]}\u003cbr\u003etrue: %{customdata[1]}\u003cbr\u003epredicted: %{customdata[2]}"
    assert hover in page
    players = [base64.b64decode(p) for p in re.findall(r"src='data:audio/wav;base64,([^']+)'", page)]
    assert len(players) == min(CONFIDENT_MISTAKES, len(wrong)) > 0
    surest = wrong.sort_values("confidence", ascending=False, kind="stable").iloc[:len(players)]
    listed = re.findall(r"<tr><th>\d+</th><td>([^<]+)</td><td>[^<]*</td><td>([^<]+)</td><td>([^<]+)</td>", page)
    assert [(t, p) for _, t, p in listed] == list(zip(surest["label"], surest["predicted"]))
    assert isinstance(audio, AudioConfig)
    for wav, row in zip(players, surest.itertuples()):
        rate, samples = scipy.io.wavfile.read(io.BytesIO(wav))
        load = load_room_tone if row.kind == "room-tone" else load_clip
        clip = load(paths.extract_dir / row.path, audio, int(row.offset), float(row.gain))
        assert rate == audio.sample_rate and np.abs(samples / 32767 - np.clip(clip, -1, 1)).max() < 1e-4, row.path
