"""--strategy multi-worker: TF_CONFIG read and checked, and two workers training as two processes."""
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from test_clean_log import foreign_lines

import run
from competition.core.cluster import worker_task
from competition.core.labels import LABELS

REPO = Path(__file__).resolve().parents[1]
CLUSTER = {"worker": ["localhost:2222", "localhost:2223"]}


@pytest.mark.parametrize("value, found", [
    (None, "found it unset"),
    ("", "found it empty"),
    ("{not json", "found '{not json'"),
    ('["localhost:2222"]', "found '[\"localhost:2222\"]'"),
    (json.dumps({"task": {"type": "worker", "index": 0}}), "found cluster None"),
    (json.dumps({"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}),
     "found cluster {'worker': ['localhost']}"),
    (json.dumps({"cluster": {**CLUSTER, "chief": ["localhost:2224"]}, "task": {"type": "worker", "index": 0}}),
     "found jobs ['chief']"),
    (json.dumps({"cluster": CLUSTER, "task": {"type": "ps", "index": 0}}), "found task {'type': 'ps', 'index': 0}"),
    (json.dumps({"cluster": CLUSTER, "task": {"type": "worker", "index": 2}}),
     "found index 2"),
])
def test_a_missing_or_malformed_tf_config_names_what_was_expected_and_found(value, found):
    with pytest.raises(Exception, match="TF_CONFIG") as error:
        worker_task({} if value is None else {"TF_CONFIG": value})
    message = str(error.value)
    assert type(error.value).__name__ == "PipelineError" and "expected " in message and f"; {found}" in message


def test_worker_zero_is_the_chief():
    tasks = [worker_task({"TF_CONFIG": json.dumps({"cluster": CLUSTER, "task": {"type": "worker", "index": i}})})
             for i in (0, 1)]
    assert [t.is_chief for t in tasks] == [True, False] and tasks[1].workers == tuple(CLUSTER["worker"])


def test_multi_worker_without_tf_config_stops_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    code = run.main(["--strategy", "multi-worker", "--input-dir", str(tmp_path), "--work-dir", str(tmp_path / "w")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith("error: --strategy multi-worker reads the cluster")
    assert not (tmp_path / "w" / "extract").exists()


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def test_two_workers_train_in_step_and_the_chief_predicts(finished_run, tmp_path):
    """Two processes on localhost ports, each with its own work folder holding the same features
    (as on two machines); the whole run.py, as a user starts it on each machine. The dense model
    (on the same cache) keeps it short: tracing the step of a CNN for the cluster takes a minute."""
    source, _ = finished_run
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(2)]}
    processes, log_files = [], [tmp_path / f"worker{index}.log" for index in (0, 1)]
    try:
        for index in (0, 1):
            work = tmp_path / f"worker{index}"
            shutil.copytree(source.work_dir, work)
            env = {**os.environ,
                   "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
            with open(log_files[index], "w") as log:  # a file: a worker never blocks on a full pipe
                processes.append(subprocess.Popen(
                    [sys.executable, "run.py", "--strategy", "multi-worker", "--model", "dense", "--epochs", "2",
                     "--batch-size", "64", "--workers", "1", "--input-dir", str(source.input_dir),
                     "--work-dir", str(work), "--output", str(tmp_path / f"submission{index}.csv")],
                    cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
        for p in processes:
            p.wait(timeout=300)
    finally:
        for p in processes:  # a worker left waiting for its peer must not outlive the test
            if p.poll() is None:
                p.kill()
                p.wait()
    logs = [f.read_text() for f in log_files]
    for p, log in zip(processes, logs):
        assert p.returncode == 0, log[-3000:]
        assert foreign_lines(log) == []  # no line of TensorFlow's, from the cluster either
    assert "worker 0 of 2 (the chief)" in logs[0] and "2 replica(s)" in logs[0]
    assert "stage predict: skipped on worker 1 of 2" in logs[1]
    histories = [pd.read_csv(tmp_path / f"worker{i}" / "model" / "history.csv") for i in (0, 1)]
    assert list(histories[0]["epoch"]) == list(histories[1]["epoch"]) == [1, 2]
    # the chief alone holds what predict reads; the other worker's saves went to a folder it removed
    chief_model, other_model = tmp_path / "worker0" / "model", tmp_path / "worker1" / "model"
    assert (chief_model / "model.keras").exists() and (chief_model / "predict_config.json").exists()
    assert not list(other_model.glob("*.keras")) and not list(other_model.glob(".worker-*"))
    assert not (other_model / "predict_config.json").exists() and not (tmp_path / "submission1.csv").exists()
    submission, sample = pd.read_csv(tmp_path / "submission0.csv"), pd.read_csv(source.sample_submission)
    assert list(submission.columns) == ["fname", "label"] and list(submission["fname"]) == list(sample["fname"])
    assert set(submission["label"]) <= set(LABELS)
