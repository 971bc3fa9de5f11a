"""pytest-compressguard: behavioural-fidelity gates for compressed models."""

from __future__ import annotations

from . import assertions
from .assertions import *  # noqa: F403  (the assert_* helpers)
from .comparison import Comparison
from .errors import (
    CompressGuardError,
    CompressGuardWarning,
    DataError,
    LabelMismatchError,
    MissingOutputError,
    ModelLoadError,
    ModelSpecError,
)

__version__ = "0.1.0"

__all__ = [
    "Comparison",
    "CompressGuardError",
    "CompressGuardWarning",
    "DataError",
    "LabelMismatchError",
    "MissingOutputError",
    "ModelLoadError",
    "ModelSpecError",
    "__version__",
    *assertions.HELPERS,  # assert_label_loyalty(guard, min=0.9), ...
]
