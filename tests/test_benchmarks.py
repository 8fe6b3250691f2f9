"""The scale benchmark's own pieces: the Kaggle-sized test set and the notebook recipe it compares with."""
import json

import numpy as np
import pandas as pd
import scipy.io.wavfile
from conftest import load_benchmark, tone, write_wav

from competition.core.config import AudioConfig
from competition.frontend.audio import load_clip
from competition.frontend.spectral import log_spectrogram


def _scale_module():
    return load_benchmark("scale")


def test_the_kaggle_sized_test_set_is_built_once_from_the_clips_at_hand(tmp_path):
    scale = _scale_module()
    sources = [write_wav(tmp_path / "src" / f"{f}.wav", tone(0.7, frequency=f)) for f in (300, 500)]
    folder = scale.build_test_set(sources, tmp_path / "big", clips=25, seed=0)
    files = sorted((folder / "audio").glob("clip_*.wav"))
    assert len(files) == 25 and json.loads((folder / "complete.json").read_text()) == {"clips": 25, "seed": 0}
    rate, samples = scipy.io.wavfile.read(files[0])
    assert rate == 16_000 and samples.dtype == np.int16 and samples.shape == (16_000,)
    stamp = files[0].stat().st_mtime_ns
    scale.build_test_set(sources, tmp_path / "big", clips=25, seed=0)  # complete: not rewritten
    assert files[0].stat().st_mtime_ns == stamp
    scale.build_test_set(sources, tmp_path / "big", clips=30, seed=0)  # another size: rebuilt
    assert len(list((folder / "audio").glob("*.wav"))) == 30


def test_the_notebook_recipe_and_the_pipeline_agree_to_float_tolerance(tmp_path):
    scale = _scale_module()
    path = write_wav(tmp_path / "a.wav", tone(0.8, frequency=700))
    ours = log_spectrogram(load_clip(path, AudioConfig()), AudioConfig())[0]
    assert np.allclose(scale.reference_features(path), ours, atol=1e-3)


def test_the_seed_table_gives_each_seed_then_mean_min_and_max(tmp_path):
    seeds = load_benchmark("seeds")
    rows = []
    for seed, balanced, plain, public in ((42, 0.93, 0.94, 0.935), (43, 0.91, 0.92, 0.921)):
        work = tmp_path / f"seed-{seed}"
        (work / "model").mkdir(parents=True)
        (work / "manifests").mkdir()
        (work / "model" / "metrics.json").write_text(json.dumps(
            {"validation_balanced_accuracy": balanced, "validation_accuracy": plain}))
        (work / "manifests" / "train.json").write_text(json.dumps({"seconds": 600.0}))
        solution, submission = tmp_path / "solution.csv", tmp_path / f"seed-{seed}.csv"
        names, right = [f"c{i}" for i in range(1000)], round(public * 1000)
        pd.DataFrame({"fname": names, "label": ["yes"] * 1000}).to_csv(solution, index=False)
        pd.DataFrame({"fname": names, "label": ["yes"] * right + ["no"] * (1000 - right)}).to_csv(submission,
                                                                                               index=False)
        rows.append(seeds.seed_row(work, seed, solution, submission, 900.0))
    table = seeds.summary(rows).set_index("seed")
    assert list(table.index) == [42, 43, "mean", "min", "max"]
    assert table.loc[43, "public"] == 0.921 and table.loc[42, "train_minutes"] == 10.0
    assert abs(table.loc["mean", "validation_balanced"] - 0.92) < 1e-12
    assert table.loc["min", "public"] == 0.921 and table.loc["max", "validation_plain"] == 0.94
