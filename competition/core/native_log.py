"""The one place where lines of TensorFlow's C++ runtime are kept out of a run's log.

The C++ runtime writes to the process's standard error (file descriptor 2) itself, beneath
Python's logging, and some of its lines come before TF_CPP_MIN_LOG_LEVEL is read (absl logs
everything until it is initialised). run.py routes descriptor 2 through a small child process
(this module run with -m) that drops the lines listed in HARMLESS, each for the reason given
there, and passes everything else through at once: the pipeline's log, progress bars,
tracebacks and any other line of TensorFlow's. A child process rather than a thread, so that
what a crashing run writes last still comes out after the run has died.
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator

_CPP = rb"[IWEF]\d{4} [\d:.]+ +\d+ "  # absl's prefix: severity, date, time, thread
NO_CUDA = re.compile(_CPP + rb"cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine, "
                            rb"GPU will not be used\.")
HARMLESS = (
    # absl's notice that it has not been initialised yet; it precedes the line below (twice: two of
    # TensorFlow's libraries each carry a copy of absl)
    re.compile(rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"),
    # a TensorFlow built with CUDA on a machine without the CUDA runtime: training runs on the CPU,
    # which the trainer's own line says ("... on the CPU")
    NO_CUDA,
    # TensorFlow's notice that its oneDNN kernels are on, which the package asks for on every CPU
    # (competition/__init__.py); it is what was asked, not a problem. On the CPU the trainer's own line
    # says which kernels train ("oneDNN kernels on"); TF_ENABLE_ONEDNN_OPTS=0 turns them off
    re.compile(_CPP + rb"port\.cc:\d+\] oneDNN custom operations are on\. .*"),
    # TensorFlow 2.16's notice, once on each worker of --strategy multi-worker, that it reached the
    # cluster's coordination service; TF_CPP_MIN_LOG_LEVEL does not hold it back, and TensorFlow 2.21
    # no longer prints it. The run's own lines say that the workers train
    re.compile(_CPP + rb"coordination_service_agent\.cc:\d+\] Coordination agent has successfully connected\."),
)
# The CUDA driver's failure that follows on the same machine. Dropped only after NO_CUDA was seen:
# on a machine that has the CUDA runtime, the same line means a broken GPU set-up and stays.
NO_DRIVER = re.compile(_CPP + rb"cuda_platform\.cc:\d+\] failed call to cuInit: ")
# A line is held back while it may still become one of the above (C++ writes a line at once; this
# only bounds what an unfinished line can hold up).
_LONGEST_PREFIX = 4096
_MAYBE = re.compile(rb"(W|WA|WAR|WARN|WARNI|WARNIN|WARNING|WARNING:.*|[IE]\d{0,4}|[IE]\d{4} .*)")


class LineFilter:
    """Bytes in, bytes out: whole lines matched against HARMLESS, the rest passed as it comes."""

    def __init__(self) -> None:
        self.held = b""         # the start of a line that may still be a harmless one
        self.passing = False    # the start of the current line went out: the rest follows unread
        self.no_cuda = False

    def _harmless(self, line: bytes) -> bool:
        if any(pattern.fullmatch(line) for pattern in HARMLESS):
            self.no_cuda = self.no_cuda or bool(NO_CUDA.fullmatch(line))
            return True
        return self.no_cuda and bool(NO_DRIVER.match(line))

    def feed(self, data: bytes) -> bytes:
        out = []
        while data:
            end = data.find(b"\n")
            piece, data = (data, b"") if end < 0 else (data[:end + 1], data[end + 1:])
            if self.passing:
                out.append(piece)
                self.passing = not piece.endswith(b"\n")
            elif piece.endswith(b"\n"):
                line, self.held = self.held + piece, b""
                if not self._harmless(line[:-1]):
                    out.append(line)
            else:
                self.held += piece
                if len(self.held) > _LONGEST_PREFIX or not _MAYBE.fullmatch(self.held):
                    out.append(self.held)  # a progress bar's redraw, a prompt: out now
                    self.held, self.passing = b"", True
        return b"".join(out)

    def close(self) -> bytes:
        held, self.held = self.held, b""
        return held


def _serve(source: int = 0, sink: int = 1) -> None:
    # Ctrl-C reaches the whole process group: the filter stays to pass on the run's last words
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    line_filter = LineFilter()
    while chunk := os.read(source, 1 << 16):
        os.write(sink, line_filter.feed(chunk))
    os.write(sink, line_filter.close())


_STDERR_IS_TERMINAL: list[bool] = []  # what descriptor 2 was before the filter took it


def stderr_is_terminal() -> bool:
    """Whether the run's standard error is a terminal: the filter's pipe stands in between, so
    ask what it was before (a progress bar that redraws itself belongs on a terminal only)."""
    return _STDERR_IS_TERMINAL[-1] if _STDERR_IS_TERMINAL else os.isatty(2)


@contextlib.contextmanager
def filtered_stderr(enabled: bool = True) -> Iterator[None]:
    """Route this process's descriptor 2 (and its children's) through the filter."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    _STDERR_IS_TERMINAL.append(os.isatty(2))
    original = os.dup(2)
    read_end, write_end = os.pipe()
    child = subprocess.Popen([sys.executable, "-m", __name__], stdin=read_end, stdout=original, stderr=original)
    os.close(read_end)
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(original, 2)  # closes the pipe's last write end here: the filter drains it and ends
        os.close(original)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=10)  # a worker process still holding the pipe keeps it open longer
        _STDERR_IS_TERMINAL.pop()


def exit_filtered(main) -> None:
    """A script's entry: main() behind the filter, its return value the exit status."""
    with filtered_stderr():
        code = main()
    sys.exit(code)


if __name__ == "__main__":
    _serve()
