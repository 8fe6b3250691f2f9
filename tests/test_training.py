"""The training input pipeline over a memory-mapped cache, and training on two devices."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from competition.core.config import Settings, TrainConfig, project
from competition.core.labels import LABELS
from competition.train.checkpoints import Checkpoint
from competition.train.loop import balanced_weights, train_member
from competition.train.pipeline import epoch_dataset

REPO = Path(__file__).resolve().parents[1]


def _batches(x, y, settings, epoch=0):
    return [(f.numpy(), labels.numpy()) for f, labels in epoch_dataset(x, y, None, settings, member=0, epoch=epoch)]


def test_class_weights_are_scikit_learns_balanced_weights_over_the_classes_present():
    from sklearn.utils.class_weight import compute_class_weight
    known = np.repeat(np.arange(len(LABELS)), [300] * 9 + [0, 200, 100]).astype(np.int32)  # one class absent
    weights = balanced_weights(known)
    present = np.unique(known)
    assert sorted(weights) == present.tolist()
    assert np.allclose([weights[c] for c in present], compute_class_weight("balanced", classes=present, y=known))
    assert weights[len(LABELS) - 1] == 3 * weights[0]  # a third of the clips weighs three times


def test_epochs_stream_every_readable_row_of_a_memory_map_once(tmp_path):
    rows = np.arange(10, dtype=np.float16)[:, None, None] * np.ones((10, 3, 4), np.float16)
    np.save(tmp_path / "x.npy", rows)
    x = np.load(tmp_path / "x.npy", mmap_mode="r")
    y = np.array([0, 1, -1, 3, 4, 5, -1, 7, 8, 9], np.int32)  # two unreadable clips
    settings = Settings(batch_size=3, augment=False)
    batches = _batches(x, y, settings)
    seen = np.concatenate([f[:, 0, 0] for f, _ in batches])
    labels = np.concatenate([batch_labels for _, batch_labels in batches])
    assert sorted(seen) == [0, 1, 3, 4, 5, 7, 8, 9] and np.array_equal(seen, labels)  # row i carries label i
    assert [len(batch_labels) for _, batch_labels in batches] == [3, 3, 2] and batches[0][0].dtype == np.float32
    again = _batches(x, y, settings)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(batches, again))  # a pure function of the seed
    assert not np.array_equal(seen, np.concatenate([f[:, 0, 0] for f, _ in _batches(x, y, settings, epoch=1)]))


def test_mirrored_strategy_trains_on_two_logical_cpus_and_predicts_the_same_format(finished_run, tmp_path):
    """Runs in a fresh process: devices can be split only before TensorFlow starts."""
    source, _ = finished_run
    work = tmp_path / "work"
    shutil.copytree(source.work_dir, work)
    output = tmp_path / "mirrored.csv"
    script = f"""
import logging, tensorflow as tf
logging.basicConfig(level=logging.INFO)
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from competition import stages
from competition.core.config import Settings
from competition.core.paths import Paths
paths = Paths(input_dir=Path({str(source.input_dir)!r}), work_dir=Path({str(work)!r}), output=Path({str(output)!r}))
settings = Settings(epochs=2, batch_size=32, workers=1, strategy="mirrored")
stages.run("train", paths, settings)
stages.run("predict", paths, settings)
"""
    result = subprocess.run([sys.executable, "-c", "from pathlib import Path\n" + script], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 replica(s)" in result.stderr
    mirrored, single = pd.read_csv(output), pd.read_csv(source.output)
    assert list(mirrored.columns) == ["fname", "label"] and list(mirrored["fname"]) == list(single["fname"])
    assert set(mirrored["label"]) <= set(LABELS)
    assert len(pd.read_csv(work / "model" / "history.csv")) == 2


def test_a_member_killed_after_it_stopped_early_is_not_trained_again(make_paths):
    """The checkpoint of the epoch that ended the member's patience still names that member: resumed,
    it must be done, not trained for one more epoch (which could replace its saved best model)."""
    paths = make_paths()
    config = project(TrainConfig, Settings(patience=2, workers=1))
    stopped = {"member": 0, "epoch": 5, "best": 0.9, "best_epoch": 3, "history": []}
    after = train_member(paths, config, 0, {}, Checkpoint(paths, {}), stopped, strategy=None)
    assert (after["member"], after["epoch"]) == (1, 0)
    with pytest.raises(KeyError):  # within its patience it would go on training, which needs the data
        train_member(paths, config, 0, {}, Checkpoint(paths, {}), {**stopped, "epoch": 4}, strategy=None)
