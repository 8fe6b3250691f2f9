"""The listening head (models.open_set): its discriminants, its layer, and where the pipeline runs it."""
import json

import numpy as np
import pytest

from competition.core.labels import LABELS
from competition.inference.config import InferenceConfig
from competition.inference.predictor import Predictor
from competition.models.open_set import RADIUS_QUANTILE, TEMPERATURE, OpenSetScores, fit_head, squared_distances

UNKNOWN = LABELS.index("unknown")
COMMANDS = [label not in ("silence", "unknown") for label in LABELS]


def _clusters(n_per_class=200, dims=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 3, (classes, dims))
    mixing = rng.normal(0, 1, (dims, dims))
    embeddings = np.concatenate([rng.normal(0, 1, (n_per_class, dims)) @ mixing + mean for mean in means])
    return embeddings, np.repeat(np.arange(classes), n_per_class), means


def test_the_discriminants_are_the_gaussian_log_likelihood_ratios_under_the_shared_covariance():
    embeddings, classes, _ = _clusters()
    head = fit_head(embeddings, classes, 3, [True, True, False])
    weights, offsets = head.weights, head.offsets
    means = np.stack([embeddings[classes == k].mean(axis=0) for k in range(3)])
    centred = embeddings - means[classes]
    covariance = centred.T @ centred / len(centred)
    covariance += 1e-3 * np.trace(covariance) / len(covariance) * np.eye(len(covariance))
    precision = np.linalg.inv(covariance)
    points = embeddings[::37]
    distances = np.stack([np.einsum("nd,de,ne->n", points - m, precision, points - m) for m in means], axis=1)
    scores = points @ weights + offsets
    # g_k - g_j = -(d_k - d_j) / 2: the quadratic term every class shares cancels
    assert np.allclose(scores - scores[:, :1], -(distances - distances[:, :1]) / 2, rtol=1e-3, atol=1e-2)
    assert (scores.argmax(axis=1) == classes[::37]).mean() > 0.9
    assert np.allclose(squared_distances(points, head), distances, rtol=1e-6, atol=1e-6)
    # the radius: the quantile of the command clips' distances to their own mean (classes 0 and 1 here)
    own = squared_distances(embeddings, head)[np.arange(len(classes)), classes]
    assert head.radius == pytest.approx(np.quantile(own[classes < 2], RADIUS_QUANTILE))
    assert 0.99 < (own[classes < 2] <= head.radius).mean() < 1

def test_a_class_without_training_clips_is_named():
    embeddings, classes, _ = _clusters(classes=2)
    with pytest.raises(ValueError, match=r"classes \[2\]"):
        fit_head(embeddings, classes, 3, [True, True, True])


def test_the_layer_gives_commands_their_odds_against_unknown_within_the_radius_and_keeps_the_rest():
    rng = np.random.default_rng(1)
    embeddings = rng.normal(0, 1, (400, 8))
    classes = np.arange(400) % len(LABELS)
    head = fit_head(embeddings, classes, len(LABELS), COMMANDS)
    layer = OpenSetScores(8, UNKNOWN, COMMANDS)
    # near the training clips, and one far from all of them
    embedding = np.vstack([rng.normal(0, 1, (5, 8)), np.full((1, 8), 50.0)]).astype(np.float32)
    probabilities = rng.dirichlet(np.ones(len(LABELS)), 6).astype(np.float32)
    layer([embedding, probabilities])  # builds it
    layer.set_weights([head.weights.astype(np.float32), head.offsets.astype(np.float32),
                       head.precision.astype(np.float32), np.array([head.radius], np.float32)])
    scores = np.asarray(layer([embedding, probabilities]))
    g = embedding @ head.weights + head.offsets
    odds = 1 / (1 + np.exp(-(g - g[:, [UNKNOWN]]) / TEMPERATURE))
    near = squared_distances(embedding, head) <= head.radius
    assert near[:5].any() and not near[5].any()
    assert np.allclose(scores[:, COMMANDS], (odds * near)[:, COMMANDS], atol=1e-4)
    assert np.allclose(scores[:, ~np.array(COMMANDS)], probabilities[:, ~np.array(COMMANDS)])
    assert (scores[5, COMMANDS] == 0).all()


def test_training_writes_the_listening_model_and_listening_runs_it(finished_run):
    paths, _ = finished_run
    config = InferenceConfig.load(paths.inference_config)
    assert config.listen_members == ("listening-model.keras",)
    assert (paths.model_dir / "listening-model.keras").is_file()
    clips = np.random.default_rng(2).normal(0, 0.05, (4, config.audio.clip_samples)).astype(np.float32)
    plain = Predictor.load(paths, "keras").probabilities_of_clips(clips, shifts=(0,))
    heard = Predictor.load(paths, "keras", listening=True).probabilities_of_clips(clips, shifts=(0,))
    others = [not c for c in COMMANDS]
    assert np.allclose(heard[:, others], plain[:, others], atol=1e-5)  # silence and unknown as the model says
    assert not np.allclose(heard[:, COMMANDS], plain[:, COMMANDS], atol=1e-3)
    assert ((heard >= 0) & (heard <= 1)).all()


def test_an_inference_config_from_before_the_head_listens_with_its_members(finished_run, tmp_path):
    paths, _ = finished_run
    data = json.loads(paths.inference_config.read_text())
    del data["listen_members"]
    older = tmp_path / "predict_config.json"
    older.write_text(json.dumps(data))
    config = InferenceConfig.load(older)
    assert config.listen_members == () and config.member_files(listening=True) == config.members


def test_the_export_holds_the_listening_files_and_the_device_listens_with_them(exported):
    from competition.device.__main__ import Exported

    paths, _ = exported
    info = json.loads(paths.export_info.read_text())
    assert info["files"]["listening-tflite-int8"] == paths.exported_model(True, listening=True).name
    assert paths.exported_model(False, listening=True).is_file()
    listening, plain = Exported(paths.export_dir, "float", listening=True), Exported(paths.export_dir, "float")
    assert listening.member.path.name == "listening_model.tflite" and plain.member.path.name == "model.tflite"
    config = InferenceConfig.load(paths.inference_config)
    clips = np.random.default_rng(3).normal(0, 0.05, (4, config.audio.clip_samples)).astype(np.float32)
    expected = Predictor.load(paths, "keras", listening=True).probabilities_of_clips(clips, shifts=(0,))
    # the float file against the Keras listening model: the front ends differ by float rounding, which the
    # discriminants' large scale (their logistic divided by TEMPERATURE) carries into the odds
    assert np.abs(listening.probabilities(clips, shifts=(0,)) - expected).max() < 0.02
    assert "the listening head" in paths.export_readme.read_text()
