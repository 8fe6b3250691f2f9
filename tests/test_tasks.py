"""Tasks beyond the competition's: all 30 words, on the same pipeline, in folders of their own."""
import dataclasses
import hashlib
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import run
from competition import PipelineError, stages
from competition.core.labels import WORDS
from competition.core.paths import Paths
from competition.tasks import get_task, task_names


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_words_task_is_thirty_classes_with_no_threshold(tmp_path):
    task = get_task("words")
    assert "words" in task_names() and task.labels == WORDS and len(task.labels) == 30
    assert task.silence_label is None and task.unknown_label is None
    probabilities = np.eye(30)[[3, 7]] * 0.2 + 0.01
    assert list(task.decide(probabilities, 0.9)) == [3, 7]  # a threshold means nothing here
    sample = tmp_path / "sample.csv"
    pd.DataFrame({"fname": ["b.wav", "a.wav"], "label": ["silence", "silence"]}).to_csv(sample, index=False)
    written = task.write_submission(tmp_path / "words.csv", pd.Series(["a.wav", "b.wav"]),
                                    np.array(["dog", "yes"]), sample)
    assert list(written.columns) == ["fname", "word"] and list(written["fname"]) == ["b.wav", "a.wav"]
    with pytest.raises(PipelineError, match="words outside the 30"):
        task.write_submission(tmp_path / "w.csv", pd.Series(["a.wav", "b.wav"]), np.array(["dog", "unknown"]), sample)


def test_a_second_task_keeps_its_own_folder_and_leaves_the_competition_up_to_date(finished_run, tmp_path, caplog):
    paths, settings = finished_run
    work = tmp_path / "work"
    shutil.copytree(paths.work_dir, work)
    # the same submission path as the run recorded (the output is part of predict's config)
    commands = Paths(paths.input_dir, work, paths.output)
    before = {p: _digest(p) for p in [commands.output, *sorted((work / "manifests").glob("*.json"))]}

    words = Paths(paths.input_dir, work, tmp_path / "words.csv", task="words")
    stages.run("all", words, dataclasses.replace(settings, task="words"))
    assert words.model_dir == work / "tasks" / "words" / "model" and words.labels_file.read_text().split() == \
        list(WORDS)
    submission = pd.read_csv(words.output)
    assert list(submission.columns) == ["fname", "word"] and set(submission["word"]) <= set(WORDS)
    assert not (work / "tasks" / "words" / "extract").exists()  # the archives are extracted once

    caplog.set_level(logging.INFO, logger="competition.stages.runner")
    stages.run("all", commands, settings)
    assert [r.getMessage() for r in caplog.records if "up to date, skipped" in r.getMessage()] == \
        [f"stage {name}: up to date, skipped" for name in stages.STAGE_NAMES]
    assert {p: _digest(p) for p in before} == before


@pytest.mark.parametrize("argv, expected", [
    ([], "submissions/submission.csv"),
    (["--demo"], "submissions/demo_submission.csv"),
    (["--task", "commands"], "submissions/submission.csv"),
    (["--task", "words"], "submissions/words-submission.csv"),
    (["--demo", "--task", "words"], "submissions/demo_words-submission.csv"),
    (["--stage", "baseline", "--baseline-model", "logreg"], "submissions/baseline-logreg.csv"),
    (["--stage", "baseline", "--baseline-model", "logreg", "--task", "words"], "submissions/words-baseline-logreg.csv"),
])
def test_each_task_writes_its_own_default_submission(argv, expected):
    assert run.default_output(run.parse_args(argv)) == Path(expected)
