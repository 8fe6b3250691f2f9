"""A run's log holds the pipeline's own lines and progress bars: no line of TensorFlow's."""
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from competition.core.native_log import LineFilter

REPO = Path(__file__).resolve().parents[1]

# The allow-list, strict on purpose: whatever else a run prints is a line the user did not ask for.
# A record of the pipeline's own loggers ("run", "competition.*") in run.py's format; not the
# "tensorflow" or "py.warnings" loggers, which would pass a looser pattern in the same format.
OWN_RECORD = re.compile(r"\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) (run|competition(\.\w+)*): .*")
# A tqdm bar ("predict:  50%|█████     | 2/4 [00:04<00:04,  2.26s/batch]", or with a description
# such as "report: mistakes' audio"); a bar is redrawn after a carriage return and the next record
# may follow it on the same line; a redraw shorter than the last is padded with spaces.
BAR = re.compile(r"[\w ][\w ':-]*: +\d+%\|[^|]*\| \d+/\d+ \[[^\]]*\] *")
# The rows of a table that a record ending in ":" carries on the lines after it (the clips per
# label of prepare, the confusion matrix): words and numbers, never ":", "." or brackets, which
# every line of TensorFlow's and every Python warning or traceback holds.
TABLE_ROW = re.compile(r"[A-Za-z0-9_ ]*")

CPP_NOISE = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1795338922.824091   27303 cudart_stub.cc:31] Could not find cuda drivers on your machine, "
    "GPU will not be used.\n"
    "I0000 00:00:1796172414.830356   20698 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders. To turn "
    "them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.\n"
    "I0000 00:00:1796476073.179822   16284 coordination_service_agent.cc:303] Coordination agent has successfully "
    "connected.\n"  # TensorFlow 2.16, on each worker of --strategy multi-worker
)
NO_DRIVER = ("E0000 00:00:1795338997.099342   27303 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
             "Failed call to cuInit: UNKNOWN ERROR (303)\n")


def foreign_lines(text: str) -> list[str]:
    """Every line of `text` that the allow-list above does not account for."""
    foreign, in_table = [], False
    for line in text.split("\n"):
        for segment in line.split("\r"):
            while bar := BAR.match(segment):
                segment = segment[bar.end():]
            if not segment:
                continue
            if OWN_RECORD.fullmatch(segment):
                in_table = segment.endswith(":")
            elif not (in_table and TABLE_ROW.fullmatch(segment)):
                foreign.append(segment)
                in_table = False
    return foreign


def test_the_allow_list_refuses_what_tensorflow_and_python_print():
    own = ("09:16:37 INFO competition.train.calibration: confusion matrix (rows: true, columns: predicted):\n"
           "         yes  no\ntrue            \nyes        1   0\n"
           "predict:   0%|          | 0/1 [00:00<?, ?batch/s]predict: 100%|██████████| 1/1 [00:03<00:00,  3.21s/batch]"
           "\r09:17:23 INFO competition.predict.stage: wrote x.csv: 360 rows\n")
    assert foreign_lines(own) == []
    for line in (CPP_NOISE.splitlines()[1], NO_DRIVER.strip(),
                 "07:57:42 WARNING tensorflow: 5 out of the last 15 calls to <function ...> triggered tf.function "
                 "retracing.", "/x/keras/src/trainers/epoch_iterator.py:74: UserWarning: `shuffle=True` was passed",
                 "Traceback (most recent call last):"):
        assert foreign_lines(own + line + "\n") == [line]


def _filtered(*pieces: str) -> str:
    line_filter = LineFilter()
    return (b"".join(line_filter.feed(p.encode()) for p in pieces) + line_filter.close()).decode()


def test_the_filter_drops_only_the_known_harmless_lines_whole_or_in_pieces():
    own = "09:16:27 INFO competition.data.demo: wrote a synthetic competition\n"
    assert _filtered(CPP_NOISE, own, NO_DRIVER, own) == own + own
    # the same, written a few bytes at a time
    text = CPP_NOISE + own + NO_DRIVER + own
    assert _filtered(*[text[i:i + 7] for i in range(0, len(text), 7)]) == own + own
    # cuInit failing where the CUDA runtime was found means a broken GPU set-up: it stays
    assert _filtered(NO_DRIVER, own) == NO_DRIVER + own
    # a progress bar's redraw goes out before its line ends; other C++ lines and tracebacks pass
    assert _filtered("\rpredict:  50%|") == "\rpredict:  50%|"
    other = "E0000 00:00:1.0   1 node_def_util.cc:682] NodeDef mentions attribute use_unbounded_threadpool\n"
    assert _filtered(other, "Traceback (most recent call last):\n") == other + "Traceback (most recent call last):\n"


def test_members_take_batches_of_any_length_without_retracing_and_predict_as_keras(caplog):
    """Six models (an ensemble, or train's and predict's loads in one process) over batches of
    10, 10 and 3: Keras's predict_on_batch traces the shared predict step for each, and TensorFlow
    warns of retracing; a member traces once, where no warning counts it, with equal results."""
    import keras

    from competition.inference.engines import KerasMember
    from competition.inference.ensemble import predict_probabilities

    models = []
    for seed in range(6):
        keras.utils.set_random_seed(seed)
        models.append(keras.Sequential([keras.Input((7, 5)), keras.layers.Flatten(),
                                        keras.layers.Dense(4, activation="softmax")]))
    x = np.random.default_rng(0).normal(size=(23, 7, 5)).astype(np.float32)
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        probabilities = predict_probabilities([KerasMember(m) for m in models], x, (0,), 4, batch_size=10)
    assert "retracing" not in caplog.text
    expected = np.concatenate([sum(m.predict_on_batch(x[s:s + 10]) for m in models) / len(models)
                               for s in range(0, len(x), 10)])
    assert np.array_equal(probabilities, expected)


def test_a_run_prints_only_the_pipelines_lines(tiny_competition, tmp_path):
    """The whole command, as a user types it, in a fresh process: TensorFlow's start-up, a
    training epoch, the validation, calibration and predict."""
    result = subprocess.run(
        [sys.executable, "run.py", "--input-dir", str(tiny_competition), "--work-dir", str(tmp_path / "work"),
         "--output", str(tmp_path / "submission.csv"), "--epochs", "1", "--workers", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout == ""
    assert "stage predict: done" in result.stderr
    assert "oneDNN kernels on" in result.stderr  # the package's switch, reported by the trainer
    assert foreign_lines(result.stderr) == []


def test_behind_the_filter_a_terminal_is_still_known_as_one():
    """--listen draws its progress bar only on a terminal; the filter's pipe must not hide one."""
    code = ("import sys\nfrom competition.core.native_log import filtered_stderr, stderr_is_terminal\n"
            "with filtered_stderr():\n    print(stderr_is_terminal(), sys.stderr.isatty())\n")
    leader, follower = os.openpty()
    try:
        on_terminal = subprocess.run([sys.executable, "-c", code], stderr=follower, capture_output=False,
                                     stdout=subprocess.PIPE, cwd=REPO, timeout=120)
    finally:
        os.close(follower)
        os.close(leader)
    piped = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=REPO, timeout=120)
    assert on_terminal.stdout.split() == [b"True", b"False"]  # a terminal, though the pipe is in between
    assert piped.stdout.split() == [b"False", b"False"]


@pytest.mark.parametrize("benchmark", ["engines", "posthoc", "scale"])
def test_benchmarks_that_load_tensorflow_on_import_print_none_of_its_notices(benchmark):
    """These scripts import TensorFlow at the top, where its C++ runtime speaks first: their filter
    must be up before that, not only around main()."""
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / f"{benchmark}.py"), "--help"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.startswith("usage:")
    assert result.stderr == ""
