"""README.md is the user's guide: every run.py command it shows parses, and it stays short and self-contained."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

import run

README = Path(__file__).resolve().parents[1] / "README.md"
MAX_LINES = 400
SHELL_OPERATORS = {"&&", "||", "|", ";", "&", ">", ">>", "<", "2>", "("}
# Training aids removed from the package after their measurements (docs/experiments.md keeps them).
REMOVED_FLAGS = ("--weight-decay", "--mel-masks", "--noise-snr-db", "--frequency-warp", "--mixup",
                 "--label-smoothing", "--average-epochs", "--pseudo-label-epoch", "--pseudo-label-confidence",
                 "--class-sampling")


def bash_lines(text: str) -> list[str]:
    """The lines of the ```bash blocks, continuation lines joined."""
    lines = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M):
        lines += block.replace("\\\n", " ").splitlines()
    return lines


def run_py_arguments(line: str) -> list[list[str]]:
    """The arguments of each run.py command on a shell line: the words after run.py up to the next shell
    operator or comment; a shell variable ($W, ${W}) stands for any path."""
    lexer = shlex.shlex(re.sub(r"\$\{?\w+\}?", "VAR", line), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands, words = [], None
    for token in lexer:
        if token in SHELL_OPERATORS or set(token) <= set("&|;<>()"):
            words = None
        elif words is not None:
            words.append(token)
        elif token == "run.py" or token.endswith("/run.py"):
            words = []
            commands.append(words)
    return commands


README_COMMANDS = [(line, args) for line in bash_lines(README.read_text()) for args in run_py_arguments(line)]


def test_the_readme_shows_run_py_commands_for_its_capabilities():
    """The parse test below covers what the README shows, not an empty list."""
    shown = " ".join(" ".join(args) for _, args in README_COMMANDS)
    assert len(README_COMMANDS) >= 15
    for capability in ("--demo", "--score", "--stage export", "--listen", "--classify", "--task words",
                       "--strategy multi-worker", "--config"):
        assert capability in shown, f"README.md shows no run.py command with {capability}"


@pytest.mark.parametrize("line, args", README_COMMANDS, ids=[" ".join(a)[:60] for _, a in README_COMMANDS])
def test_every_run_py_command_in_the_readme_parses(line, args):
    try:
        run.parse_args(args)
    except SystemExit as exit_:
        pytest.fail(f"README.md: {line!r} does not parse with run.py's parser (exit {exit_.code})")


def test_the_command_lines_are_read_as_a_shell_reads_them():
    assert run_py_arguments('arecord -r 16000 | .venv/bin/python run.py --listen -  # a microphone') == [
        ["--listen", "-"]]
    assert run_py_arguments("python -m venv .venv && .venv/bin/python run.py --stage all --demo && echo done") == [
        ["--stage", "all", "--demo"]]
    assert run_py_arguments("!python run.py --work-dir $W --listen ${S}/a.wav > log") == [
        ["--work-dir", "VAR", "--listen", "VAR/a.wav"]]
    assert run_py_arguments("python benchmarks/seeds.py --seeds 42") == []


def test_the_readme_is_short_and_uses_only_the_users_own_paths():
    text = README.read_text()
    assert len(text.splitlines()) <= MAX_LINES
    assert "../shared" not in text


def test_the_docs_and_benchmarks_name_the_users_own_paths_too():
    root = README.parent
    pages = sorted([*root.glob("docs/*.md"), *root.glob("benchmarks/*.py"), *root.glob("benchmarks/*.md"),
                    *root.glob("benchmarks/*.sh")])
    assert len(pages) > 10
    assert [page.relative_to(root) for page in pages if "../shared" in page.read_text()] == []


def test_the_readme_offers_no_removed_training_aid():
    text = README.read_text()
    assert [flag for flag in REMOVED_FLAGS if re.search(re.escape(flag) + r"\b", text)] == []
