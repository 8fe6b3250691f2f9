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


def test_the_report_says_which_file_is_scored_against_which(files, capsys):
    submission, solution = files
    assert run.main(["--score", str(solution), "--output", str(submission)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"scoring {submission} (the submission) against {solution} (the solution)"


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1 and lines[0].startswith("error: "), captured
    return lines[0]


def test_the_submission_given_as_the_solution_is_refused(files, capsys, monkeypatch):
    submission, _ = files
    monkeypatch.chdir(submission.parent)  # the default --output, named relatively and absolutely
    (submission.parent / "submissions").mkdir()
    default = submission.parent / "submissions" / "submission.csv"
    default.write_bytes(submission.read_bytes())
    for given in ("submissions/submission.csv", str(default), "submissions/../submissions/submission.csv"):
        assert run.main(["--score", given]) == 1
        line = _one_error_line(capsys)
        assert f"--score {given} is the submission being scored" in line and "fname,label[,Usage]" in line


def test_a_link_to_the_submission_is_the_same_file(files, capsys):
    submission, _ = files
    link = submission.parent / "link.csv"
    link.symlink_to(submission)
    assert run.main(["--score", str(link), "--output", str(submission)]) == 1
    assert "is the submission being scored" in _one_error_line(capsys)


def test_a_copy_of_the_submission_is_refused_as_a_solution(files, capsys):
    submission, _ = files
    copy = submission.parent / "copy.csv"
    copy.write_bytes(submission.read_bytes())
    assert run.main(["--score", str(copy), "--output", str(submission)]) == 1
    line = _one_error_line(capsys)
    assert f"{copy} has the same content as the submission {submission}" in line
    assert "expected a solution file: fname,label[,Usage]" in line


@pytest.mark.parametrize("rows", [
    {"fname": ["x", "y"], "label": ["yes", "no"]},  # other clips
    {"fname": ["a", "b"], "label": ["", ""]},  # the same clips, unlabelled
])
def test_a_solution_without_labelled_rows_of_the_submission_is_refused(files, capsys, rows):
    submission, solution = files
    pd.DataFrame(rows).to_csv(solution, index=False)
    assert run.main(["--score", str(solution), "--output", str(submission)]) == 1
    line = _one_error_line(capsys)
    assert f"error: {solution}: none of its" in line and "expected a solution file" in line


def test_unlabelled_solution_rows_are_left_out_of_the_score(files):
    submission, solution = files
    table = pd.read_csv(solution)
    table.loc[table["fname"] == "c", "label"] = ""  # the one wrong prediction
    table.to_csv(solution, index=False)
    report = score(submission, solution)
    assert report["clips"] == 3 and report["accuracy"] == 1.0
