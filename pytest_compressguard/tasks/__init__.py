"""The tasks a comparison can be of, by name: what every other layer asks instead of
branching on a task's name (see :class:`~pytest_compressguard.tasks.base.Task`)."""

from __future__ import annotations

from pytest_compressguard.core.errors import ModelSpecError
from pytest_compressguard.tasks.base import Task
from pytest_compressguard.tasks.causal_lm import CAUSAL_LM
from pytest_compressguard.tasks.classification import CLASSIFICATION
from pytest_compressguard.tasks.qa import QUESTION_ANSWERING

#: Every task by its ``--task`` name.
TASKS: dict[str, Task] = {t.name: t for t in (CLASSIFICATION, QUESTION_ANSWERING, CAUSAL_LM)}
#: The task of a model no other task recognises.
DEFAULT: Task = CLASSIFICATION
#: The ``--task`` values.
NAMES: tuple[str, ...] = tuple(TASKS)


def get(name: str) -> Task:
    """The task called ``name``."""
    try:
        return TASKS[name]
    except KeyError:
        raise ModelSpecError(f"unknown task {name!r}: expected one of {', '.join(NAMES)}") from None


def detect(spec: str) -> Task:
    """The task of the model ``spec`` names, from what it says of itself without loading
    weights (:func:`~pytest_compressguard.models.resolve.signature`): the task a snapshot
    recorded, else the task that recognises its architectures or graph outputs (else
    :data:`DEFAULT`)."""
    from pytest_compressguard.models.resolve import signature

    found = signature(spec)
    if found.recorded_task is not None:
        return get(found.recorded_task)
    others = (t for t in TASKS.values() if t is not DEFAULT and t.detects(found))
    return next(others, DEFAULT)


def detect_task(spec: str) -> str:
    """The name of :func:`detect`'s task."""
    return detect(spec).name
