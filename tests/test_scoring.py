import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import run
from competition import PipelineError
from competition.analysis.scoring import score


@pytest.fixture
def files(tmp_path):
    solution = pd.DataFrame({"fname": ["a", "b", "c", "d"], "label": ["yes", "yes", "silence", "unknown"],
                             "Usage": ["Public", "Private", "Public", "Private"]})
    submission = pd.DataFrame({"fname": ["d", "c", "b", "a", "e"], "label": ["unknown", "yes", "yes", "yes", "no"]})
    solution.to_csv(tmp_path / "solution.csv", index=False)
    submission.to_csv(tmp_path / "submission.csv", index=False)
    return tmp_path / "submission.csv", tmp_path / "solution.csv"


def test_accuracy_overall_per_usage_and_per_class(files):
    report = score(*files)
    assert report["accuracy"] == 0.75 and report["clips"] == 4
    assert report["by_usage"] == {"Private": 1.0, "Public": 0.5}
    assert report["by_class"] == {"yes": 1.0, "silence": 0.0, "unknown": 1.0}
    assert report["confusion"].loc["silence", "yes"] == 1


def test_a_solution_clip_without_prediction_is_named(files, tmp_path):
    submission, solution = files
    pd.DataFrame({"fname": ["a"], "label": ["yes"]}).to_csv(submission, index=False)
    with pytest.raises(PipelineError, match=r"3 of the 4 clips .* have no prediction"):
        score(submission, solution)


def test_score_flag_prints_the_report(files, capsys):
    submission, solution = files
    assert run.main(["--score", str(solution), "--output", str(submission)]) == 0
    out = capsys.readouterr().out
    assert "accuracy 0.7500 on 4 clips" in out and "Public: 0.5000" in out


def test_a_reader_that_stops_early_is_not_an_error(files):
    """`run.py --score ... | head -3`: the pipe closes before the report is written."""
    submission, solution = files
    script = Path(run.__file__)
    process = subprocess.Popen([sys.executable, str(script), "--score", str(solution), "--output", str(submission)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=script.parent)
    process.stdout.close()  # before the child has written anything
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 128 + signal.SIGPIPE
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
