"""What a comparison reads: the pair's outputs, each kind loaded lazily on first use.

The session builds a :class:`PairInputs` for each teacher/student pair; a
:class:`~pytest_compressguard.comparison.Comparison` reads it and never loads or runs a model
itself. Each part is a :class:`Lazy` value, so an expensive output (the attack, the OOD bank's
embeddings) is computed only when a metric that needs it is asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pytest_compressguard.core.lazy import Lazy
from pytest_compressguard.core.types import (
    ExampleResult,
    Footprint,
    Latency,
    Text,
)
from pytest_compressguard.tasks.base import Task
from pytest_compressguard.tasks.classification import CLASSIFICATION


@dataclass(frozen=True)
class PairEmbeddings:
    """Both models' (N, H) embeddings of the eval texts (H may differ between the models)."""

    teacher: np.ndarray
    student: np.ndarray
    texts: tuple[Text, ...]


@dataclass(frozen=True)
class PairAttack:
    """Both models' attacks on the same examples, every label in the teacher's label order.

    ``transferred[i]`` is the student's prediction on the teacher's adversarial text of example
    ``i`` where the teacher's attack succeeded, -1 elsewhere.
    """

    teacher: tuple[ExampleResult, ...]
    student: tuple[ExampleResult, ...]
    transferred: np.ndarray
    settings: dict[str, Any]
    cached: dict[str, bool]
    report_max: int = 50
    label_names: tuple[str, ...] | None = None

    def validity(self) -> dict[str, dict[str, Any]]:
        """Each model's :func:`~pytest_compressguard.attacks.search.validity` figures."""
        from pytest_compressguard.attacks.lexicon import lexicon
        from pytest_compressguard.attacks.search import validity

        return {
            "teacher": validity(self.teacher, lexicon()),
            "student": validity(self.student, lexicon()),
        }

    def arrays(self, model: str) -> dict[str, np.ndarray]:
        """One model's per-example attack outcomes as arrays."""
        examples = self.teacher if model == "teacher" else self.student
        return {
            name: np.array([getattr(e, name) for e in examples])
            for name in ("label", "before", "after", "words", "words_changed", "queries")
        } | {
            "success": np.array([e.success for e in examples], dtype=bool),
            "attacked": np.array([e.status != "skipped" for e in examples], dtype=bool),
        }


@dataclass(frozen=True)
class PairEfficiency:
    """Both models' footprints, and a way to time either model at a batch size."""

    teacher: Footprint
    student: Footprint
    latency: Callable[[str, int], Latency]


@dataclass(frozen=True)
class OodInputs:
    """Both models' embeddings of the in-distribution bank and of the candidate OOD texts."""

    teacher_bank: np.ndarray
    student_bank: np.ndarray
    teacher_ood: np.ndarray
    student_ood: np.ndarray
    ood_texts: tuple[Text, ...]
    ood_spec: str = "ood data"


OOD_ABSENT = (
    "OOD agreement needs in-distribution training data and candidate OOD data "
    "(--train-data and --ood-data)"
)


@dataclass(frozen=True)
class PairInputs:
    """Everything a comparison of one pair on one dataset may read, each part lazy.

    ``n`` is the number of eval examples, known without running a model. ``predictions``
    gives the ``task``'s pair predictions (see :class:`~pytest_compressguard.tasks.base.Task`).
    """

    n: int
    predictions: Lazy[Any] = field(default_factory=lambda: Lazy(None, "no predictions were given"))
    embeddings: Lazy[PairEmbeddings] = field(
        default_factory=lambda: Lazy(None, "no embeddings were given")
    )
    ood: Lazy[OodInputs] = field(default_factory=lambda: Lazy(None, OOD_ABSENT))
    attack: Lazy[PairAttack] = field(default_factory=lambda: Lazy(None, "no attack was configured"))
    #: Every recipe's attack by name, the first being ``attack`` (empty: no recipe named).
    attacks: dict[str, Lazy[PairAttack]] = field(default_factory=dict)
    efficiency: Lazy[PairEfficiency] = field(
        default_factory=lambda: Lazy(None, "sizes and latencies need the loaded models")
    )
    task: Task = CLASSIFICATION
