"""pytest-compressguard: behavioural-fidelity gates for compressed models."""

from __future__ import annotations

from pytest_compressguard import assertions
from pytest_compressguard.assertions import *  # noqa: F403  (the assert_* helpers)
from pytest_compressguard.core.errors import (
    CompressGuardError,
    CompressGuardWarning,
    DataError,
    LabelMismatchError,
    MissingOutputError,
    ModelLoadError,
    ModelSpecError,
)
from pytest_compressguard.core.version import __version__
from pytest_compressguard.engine.comparison import Comparison

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
