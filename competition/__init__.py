"""A staged pipeline for the Kaggle TensorFlow Speech Recognition Challenge.

Built in floors, each package importing only from the floors below it (ARCHITECTURE.md):
stages; train | predict | analysis; inference; data | models; tasks | frontend; core.
"""

__version__ = "0.2.0"


class PipelineError(Exception):
    """A failure the user can act on; run.py prints its message as one line."""
