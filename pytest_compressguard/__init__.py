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
from pytest_compressguard.guard import Guard

#: The public name of a :class:`~pytest_compressguard.guard.Guard` (what the ``guard`` fixture
#: is, and what ``Comparison.from_arrays`` builds from precomputed outputs).
Comparison = Guard

__all__ = [
    "Comparison",
    "Guard",
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
