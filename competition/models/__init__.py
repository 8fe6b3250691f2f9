"""The model registry and its families. Importing this package registers every family and the
custom layers that saved models use."""
from . import bcresnet, families, open_set  # noqa: F401  registers the families and the listening head
from .registry import build_model, check_features, default_features, model_names, register

__all__ = ["build_model", "check_features", "default_features", "model_names", "register"]
