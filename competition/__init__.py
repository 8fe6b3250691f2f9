"""A staged pipeline for the Kaggle TensorFlow Speech Recognition Challenge.

Built in floors, each package importing only from the floors below it (ARCHITECTURE.md):
stages; train | predict | analysis; inference; data | models; tasks | frontend; core.
"""

import os

__version__ = "0.2.0"

# TensorFlow turns its oneDNN CPU kernels on by itself only on CPUs with AVX-512 VNNI or BF16, AVX-VNNI or
# AMX. On a CPU with plain AVX2 (this project's 2-core machine) the Eigen kernels it falls back to trained
# the default 1.6 times slower (README, Results). TensorFlow reads the switch once, when it loads, so it is
# set here, before any module of the package imports TensorFlow. A user's explicit 0 (or 1) stands; an
# empty value, which TensorFlow would ignore with a warning, counts as unset.
ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
if not os.environ.get(ONEDNN_VARIABLE):
    os.environ[ONEDNN_VARIABLE] = "1"


class PipelineError(Exception):
    """A failure the user can act on; run.py prints its message as one line."""
