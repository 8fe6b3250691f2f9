"""A staged pipeline for the Kaggle TensorFlow Speech Recognition Challenge."""

__version__ = "0.1.0"


class PipelineError(Exception):
    """A failure the user can act on; run.py prints its message as one line."""
