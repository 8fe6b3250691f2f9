"""notebooks/kaggle.ipynb executed cell by cell as a kernel runs it, pointed (through its environment
parameters) at a copy of the tiny competition's finished run, so that it trains nothing again."""
from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from competition import stages

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "kaggle.ipynb"


def _text(cell) -> str:
    """What a cell printed and displayed, as text."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        data = output.get("data", {})
        parts.append(data.get("text/html", "") or data.get("text/plain", ""))
    return "".join(parts)


def test_the_kaggle_notebook_runs_the_pipeline_and_shows_its_results(finished_run, tmp_path, monkeypatch):
    paths, settings = finished_run
    work = tmp_path / "work"
    shutil.copytree(paths.work_dir, work)
    monkeypatch.setenv("SPEECH_REPOSITORY", str(REPO))
    monkeypatch.setenv("SPEECH_WORK_DIR", str(work))
    monkeypatch.setenv("SPEECH_FLAGS", shlex.join([
        "--input-dir", str(paths.input_dir), "--epochs", str(settings.epochs), "--batch-size", str(settings.batch_size),
        "--operating-minutes", str(settings.operating_minutes), "--workers", "1"]))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises on a failing cell

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    run_cell = next(cell for cell in code if '"--stage", "all"' in cell.source)
    log = _text(run_cell)
    assert log.count("up to date, skipped") == len(stages.STAGES) - 1, log[-3000:]  # all but predict, new --output
    assert "stage predict: running" in log
    # outside a kernel the default submission is the checkout's, here in the notebook's folder
    submission = tmp_path / "submissions" / "submission.csv"
    assert submission.read_bytes() == paths.output.read_bytes()
    shown = "".join(_text(cell) for cell in code)
    assert "validation_accuracy" in shown and "validation_balanced_accuracy" in shown
    assert f"{submission.resolve()}: 40 test clips" in shown
    images = [output for cell in code for output in cell.get("outputs", []) if "image/png" in output.get("data", {})]
    assert len(images) == 2  # the training curves and the confusion matrix
