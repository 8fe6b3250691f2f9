"""One run per work folder: a second run is refused at once, a killed run never blocks, and
leftovers are swept only under the lock."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from competition import PipelineError
from competition.core.io import atomic_write_text
from competition.core.lock import LOCK_FILE, work_folder_lock

REPO = Path(__file__).resolve().parents[1]


def test_a_second_run_on_a_held_folder_exits_at_once_and_changes_nothing(tmp_path):
    work = tmp_path / "work"
    (work / "extract").mkdir(parents=True)
    (work / "extract" / ".train.abc.partial").mkdir()  # what the holder is writing right now
    with work_folder_lock(work):
        before = sorted(p.relative_to(work) for p in work.rglob("*"))
        result = subprocess.run([sys.executable, "run.py", "--stage", "explore", "--work-dir", str(work),
                                 "--input-dir", str(tmp_path / "input")],
                                cwd=REPO, capture_output=True, text=True, timeout=120)
        after = sorted(p.relative_to(work) for p in work.rglob("*"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: the work folder {work.resolve()} is in use by another run (process {os.getpid()}); "
                     "wait for it to finish, or give this run another --work-dir"]
    assert after == before


def test_a_killed_holder_never_blocks_the_next_run(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom competition.core.lock import work_folder_lock\n"
         f"with work_folder_lock({str(tmp_path)!r}):\n    print('held', flush=True)\n    time.sleep(120)\n"],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(PipelineError, match=rf"in use by another run \(process {holder.pid}\)"):
            with work_folder_lock(tmp_path):
                pass
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        holder.kill()
    with work_folder_lock(tmp_path):
        assert (tmp_path / LOCK_FILE).read_text().strip() == str(os.getpid())


def test_the_lock_is_re_entrant_within_a_run(tmp_path):
    with work_folder_lock(tmp_path):
        with work_folder_lock(tmp_path / "."):
            pass
        other = subprocess.run([sys.executable, "-c", "from competition.core.lock import work_folder_lock\n"
                                f"with work_folder_lock({str(tmp_path)!r}): pass"],
                               cwd=REPO, capture_output=True, text=True, timeout=60)
        assert other.returncode != 0 and "in use by another run" in other.stderr  # the outer block still holds it


def test_leftovers_are_swept_only_under_the_lock(tmp_path):
    leftover = tmp_path / ".submission.abc123.partial.csv"
    leftover.write_text("half")
    atomic_write_text(tmp_path / "submission.csv", "fname,label\n")
    assert leftover.exists()  # without the lock it may be another run's file in progress
    with work_folder_lock(tmp_path):
        atomic_write_text(tmp_path / "submission.csv", "fname,label\n")
    assert not leftover.exists()
