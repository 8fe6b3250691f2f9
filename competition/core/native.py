"""Output that native libraries write straight to the process's stdout and stderr.

TensorFlow Lite's converter and interpreter print progress lines from C++ ("fully_quantize: 0,
...", "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.") that no Python logging setting
reaches. Around those calls only, the two file descriptors go to a temporary file, whose lines
are then logged at debug level (so --verbose still shows them) or, on an error, at warning level.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def native_output_logged(log: logging.Logger) -> Iterator[None]:
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    failed = False
    with tempfile.TemporaryFile() as capture:
        try:
            os.dup2(capture.fileno(), 1)
            os.dup2(capture.fileno(), 2)
            yield
        except BaseException:
            failed = True
            raise
        finally:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines():
                if line.strip():
                    log.log(logging.WARNING if failed else logging.DEBUG, "native: %s", line)
