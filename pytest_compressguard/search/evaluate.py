"""A candidate measured against the teacher's outputs with the gate's own code.

The teacher runs once per split (its outputs are a :class:`Reference`); each candidate runs
over the same texts, and a :class:`~pytest_compressguard.engine.comparison.Comparison` of the two
gives every required metric and, for a requirement with a confidence level, the bound of its
paired-bootstrap interval that decides, exactly as an ``assert_*`` with ``confidence=`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pytest_compressguard.core.types import Text
from pytest_compressguard.engine.comparison import Comparison
from pytest_compressguard.engine.inputs import OodInputs
from pytest_compressguard.metrics.catalogue import DEFAULT_K, METRICS
from pytest_compressguard.metrics.verdict import holds
from pytest_compressguard.models.base import Model
from pytest_compressguard.search.requirements import Requirement


@dataclass(frozen=True)
class Reference:
    """The teacher's outputs on one split of the eval data (and, for OOD requirements, its
    embeddings of the in-distribution bank and of the OOD candidates)."""

    texts: tuple[Text, ...]
    labels: np.ndarray
    probabilities: np.ndarray
    embeddings: np.ndarray
    bank_texts: tuple[Text, ...] = ()
    bank: np.ndarray | None = None
    ood_texts: tuple[Text, ...] = ()
    ood: np.ndarray | None = None


@dataclass(frozen=True)
class Measured:
    """Each requirement's point value, the value that decides it (the interval's bound at its
    confidence, else the point value) and whether it holds."""

    point: dict[str, float]
    decisive: dict[str, float]
    holds: dict[str, bool]
    #: half the interval's width, for a requirement with a confidence level (else 0)
    spread: dict[str, float] = field(default_factory=dict)

    @property
    def passes(self) -> bool:
        return all(self.holds.values())


def reference(
    teacher: Model,
    texts: Sequence[Text],
    labels: np.ndarray,
    *,
    bank: Sequence[Text] = (),
    ood: Sequence[Text] = (),
) -> Reference:
    """The teacher's outputs on a split (one pass), and on the bank and OOD texts if given."""
    found = teacher.encode(list(texts))
    assert found.probabilities is not None and found.embeddings is not None
    return Reference(
        tuple(texts),
        np.asarray(labels, dtype=np.int64),
        found.probabilities,
        found.embeddings,
        tuple(bank),
        teacher.embed(list(bank)) if bank else None,
        tuple(ood),
        teacher.embed(list(ood)) if ood else None,
    )


def measure(
    candidate: Model,
    ref: Reference,
    requirements: Sequence[Requirement],
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    ood_k: int = 10,
    margin: float = 0.0,
) -> Measured:
    """The candidate's required metrics on the reference's texts (OOD metrics need the bank
    and OOD texts in the reference). With a ``margin``, a requirement with a confidence level
    holds only when its deciding bound clears the threshold by ``margin`` times half the
    interval's width (a guard band for a split that will be checked again on other data)."""
    found = candidate.encode(list(ref.texts))
    ood = None
    if ref.bank is not None and ref.ood is not None:
        ood = OodInputs(
            teacher_bank=ref.bank,
            student_bank=candidate.embed(list(ref.bank_texts)),
            teacher_ood=ref.ood,
            student_ood=candidate.embed(list(ref.ood_texts)),
            ood_texts=ref.ood_texts,
        )
    comparison = Comparison.from_arrays(
        ref.probabilities,
        found.probabilities,
        ref.labels,
        ref.texts,
        teacher_embeddings=ref.embeddings,
        student_embeddings=found.embeddings,
        ood=ood,
        ood_k=ood_k,
        bootstrap=bootstrap,
        seed=seed,
    )
    point, decisive, verdicts, spread = {}, {}, {}, {}
    for r in requirements:
        key = str(r)
        entry = METRICS[r.metric]
        param = entry.param.default if entry.param is not None else None  # kNN's k
        point[key] = float(comparison.value(r.metric, param))
        value = point[key]
        if r.confidence is not None:
            k = param if isinstance(param, int) else DEFAULT_K
            low, high = comparison.interval(r.metric, r.confidence, k=k)
            value = low if r.op == ">=" else high
            spread[key] = (high - low) / 2
        decisive[key] = value
        band = margin * spread.get(key, 0.0)
        test = comparison.mcnemar() if r.metric == "mcnemar_p_value" else None
        verdicts[key] = holds(r.metric, r.op, value, r.threshold, band=band, mcnemar=test)
    return Measured(point, decisive, verdicts, spread)
