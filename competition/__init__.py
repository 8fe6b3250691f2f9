"""A staged pipeline for the Kaggle TensorFlow Speech Recognition Challenge.

Built in floors, each package importing only from the floors below it (ARCHITECTURE.md):
stages; train | predict | analysis; inference; data | models; tasks | frontend; core.
"""

import os

__version__ = "0.2.0"

# TensorFlow turns its oneDNN kernels on by itself only on CPUs with AVX-512 or AMX. On an AVX2 CPU
# (this project's 2-core machine) the Eigen kernels it falls back to trained the default 1.6 times
# slower (README, Results). Set before any module of the package imports TensorFlow; an explicit
# TF_ENABLE_ONEDNN_OPTS=0 in the environment still wins. Run to run, the outputs stay the same bytes.
ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
os.environ.setdefault(ONEDNN_VARIABLE, "1")


def onednn_enabled() -> bool:
    """Whether TensorFlow reads its oneDNN switch as on (it parses booleans as 1/true and 0/false)."""
    return os.environ.get(ONEDNN_VARIABLE, "").strip().lower() in ("1", "true")


class PipelineError(Exception):
    """A failure the user can act on; run.py prints its message as one line."""
