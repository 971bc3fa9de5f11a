"""The options' value parsers: each turns a string into a value or raises
``argparse.ArgumentTypeError`` saying what it expected."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

from pytest_compressguard.attacks.search import RECIPES, SIDES
from pytest_compressguard.core.errors import ModelSpecError
from pytest_compressguard.metrics.qa import ERRORS as QA_ERRORS
from pytest_compressguard.models.base import POOLINGS
from pytest_compressguard.models.snapshot import EMBEDDINGS
from pytest_compressguard.models.spec import parse_spec
from pytest_compressguard.tasks import NAMES

#: What the models do: classify texts (or pairs), or answer questions from a context.
TASKS = NAMES


def positive_int(value: str) -> int:
    """Parse an integer >= 1."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


def non_negative_int(value: str) -> int:
    """Parse an integer >= 0."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value!r}")
    return number


def model_spec(value: str) -> str:
    """Check that a model spec names something (cheaply: no model is loaded)."""
    try:
        parse_spec(value)
    except ModelSpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def data_spec(value: str) -> str:
    """Check an eval-data spec: an existing CSV/TSV/JSONL file, or hf:DATASET[:CONFIG]:SPLIT."""
    from pytest_compressguard.data.texts import FORMATS

    if value.startswith("hf:"):
        if len(value.split(":")) not in (3, 4) or not all(value.split(":")[1:]):
            raise argparse.ArgumentTypeError(
                f"expected hf:DATASET:SPLIT or hf:DATASET:CONFIG:SPLIT, got {value!r}"
            )
        return value
    path = Path(value).expanduser()
    if path.suffix.lower() not in FORMATS:
        raise argparse.ArgumentTypeError(
            f"{value!r}: unknown data format {path.suffix or '(no extension)'}; "
            f"expected one of {', '.join(FORMATS)} or hf:DATASET:SPLIT"
        )
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {value!r}")
    return value


#: An eval set's name: letters, digits, ``_``, ``.`` and ``-`` (it appears in test ids).
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class EvalSet:
    """One ``--eval-data``: its name (test ids, the marker, the reports) and its data spec."""

    name: str
    spec: str

    @classmethod
    def parse(cls, value: str) -> EvalSet:
        """``NAME=PATH``, or a bare spec named after its file's stem (for ``hf:`` specs,
        after its config and split)."""
        name, sep, spec = value.partition("=")
        if sep and _NAME.match(name) and not value.startswith("hf:"):
            return cls(name, spec)
        if value.startswith("hf:"):
            parts = value.split(":")[1:]  # DATASET[:CONFIG]:SPLIT
            first = parts[1] if len(parts) == 3 else parts[0].split("/")[-1]
            return cls(f"{first}-{parts[-1]}", value)
        return cls(Path(value).stem, value)


def eval_spec(value: str) -> str:
    """An eval set: ``[NAME=]SPEC`` where SPEC passes :func:`data_spec`."""
    data_spec(EvalSet.parse(value).spec)
    return value


def device(value: str) -> str:
    """cpu or cuda."""
    if value not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"expected cpu or cuda, got {value!r}")
    return value


def _one_of(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        listed = f"{', '.join(allowed[:-1])} or {allowed[-1]}"
        raise argparse.ArgumentTypeError(f"expected {listed}, got {value!r}")
    return value


def pooling(value: str) -> str:
    """cls or mean."""
    return _one_of(value, POOLINGS)


def side(value: str) -> str:
    """first or second."""
    return _one_of(value, SIDES)


def recipe(value: str) -> str:
    """An attack recipe's name."""
    if value not in RECIPES:
        raise argparse.ArgumentTypeError(
            f"unknown attack recipe {value!r}; expected one of {', '.join(RECIPES)}"
        )
    return value


def unit(value: str) -> float:
    """A number in [0, 1]."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value!r}") from None
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value!r}")
    return number


def task(value: str) -> str:
    """classification or qa."""
    return _one_of(value, TASKS)


def qa_error(value: str) -> str:
    """exact or f1."""
    return _one_of(value, QA_ERRORS)


def number(value: str) -> float:
    """Parse a finite number."""
    try:
        parsed = float(value)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if parsed != parsed or parsed in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {value!r}")
    return parsed


def share(value: str) -> float:
    """Parse a number in (0, 1]."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {value!r}") from None
    if not 0 < number <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {value!r}")
    return number


def mlm(value: str) -> str:
    """A masked-LM spec: a directory or a Hub id (checked cheaply: nothing is loaded)."""
    from pytest_compressguard.attacks.mlm import mlm_spec

    try:
        mlm_spec(value)
    except ModelSpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def snapshot_embeddings(value: str) -> str:
    """float32, float16 or none."""
    return _one_of(value, EMBEDDINGS)


def boolean(value: str) -> bool:
    """true/false, yes/no, on/off or 1/0 (any case)."""
    lowered = value.strip().lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def text(value: str) -> str:
    """Any non-empty string."""
    if not value.strip():
        raise argparse.ArgumentTypeError("expected a non-empty value")
    return value
