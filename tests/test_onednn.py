"""The package turns TensorFlow's oneDNN CPU kernels on, before TensorFlow loads, unless the user said otherwise."""
import os
import subprocess
import sys
from pathlib import Path

from competition import ONEDNN_VARIABLE

REPO = Path(__file__).resolve().parents[1]
# TensorFlow has no public way to ask whether its oneDNN kernels are on; this private call is what the
# trainer's log line reports too, so the test checks what TensorFlow decided, not only the variable.
ASK = ("import os, competition\nfrom tensorflow.python.util._pywrap_util_port import IsMklEnabled\n"
       f"print(repr(os.environ['{ONEDNN_VARIABLE}']), IsMklEnabled())")


def _in_a_fresh_process(value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != ONEDNN_VARIABLE}
    if value is not None:
        env[ONEDNN_VARIABLE] = value
    result = subprocess.run([sys.executable, "-c", ASK], capture_output=True, text=True, cwd=REPO, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_unset_or_empty_turns_the_kernels_on():
    assert _in_a_fresh_process(None) == "'1' True"
    assert _in_a_fresh_process("") == "'1' True"  # TensorFlow would ignore an empty value with a warning


def test_an_explicit_choice_stands():
    assert _in_a_fresh_process("0") == "'0' False"
    assert _in_a_fresh_process("true") == "'true' True"
