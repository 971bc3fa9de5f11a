"""What a task is: the questions the engine and the session ask of one.

A task (classification, question answering) says how its models are loaded and its data
read, how a pair's outputs are computed and what they are, and how a failed check shows the
examples behind it. Nothing outside :mod:`pytest_compressguard.tasks` (and the metric
definitions) branches on which task it is: it asks the task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pytest_compressguard.core.types import Text
from pytest_compressguard.metrics.stats import MeanStatistic
from pytest_compressguard.models.base import Model
from pytest_compressguard.models.resolve import Signature

#: Metrics a failure of which the negative flips explain (right for the teacher, wrong now).
NEGATIVE_FLIPS = (
    "negative_flip_rate",
    "backward_trust_compatibility",
    "backward_error_compatibility",
)


class PairView(Protocol):
    """What a task's explanations read of a comparison (the engine's ``Comparison``)."""

    n: int

    def per_class(self) -> dict[str, Any]: ...

    def label_name(self, index: int) -> str: ...

    def value(self, metric: str, param: int | str | None = None) -> Any: ...


class Store(Protocol):
    """What a task reads of the session's output store (the engine's ``OutputStore``)."""

    def probabilities(self, model: Model, dataset: Any) -> np.ndarray: ...

    def embeddings(
        self, model: Model, dataset: Any, *, with_probabilities: bool = False
    ) -> Any: ...

    def encoded(self, model: Model, dataset: Any, *, probabilities: bool) -> Any: ...

    def answers(self, model: Any, questions: Any, settings: dict[str, Any]) -> Any: ...


class PairPredictions(Protocol):
    """A pair's aligned predictions on the eval data, as a task gives them."""

    texts: tuple[Text, ...]
    label_names: tuple[str, ...] | None

    def statistics(self) -> dict[str, MeanStatistic]: ...

    def defines(self, metric: Any) -> bool: ...

    def right(self) -> tuple[np.ndarray, np.ndarray]: ...

    def per_class(self, label_name: Callable[[int], str]) -> dict[str, Any]: ...

    def confusion(self) -> list[list[int]]: ...

    def missing(self, metric: str, dataset: str) -> str: ...

    def explain(self, c: PairView, metric: str) -> tuple[str, np.ndarray]: ...

    def describe(self, c: PairView, index: int) -> str: ...

    def own(self) -> dict[str, float]: ...

    def record(self, c: Any) -> dict[str, Any]: ...


class Task:
    """One task; a subclass fills every method (see the two task modules)."""

    #: The ``--task`` value and the JSON report's ``"task"``.
    name: str = ""
    #: What a model of the task does, in words ("classifies texts").
    does: str = ""
    #: Metrics of one model, listed beside the pairwise matrices.
    own_metrics: tuple[str, ...] = ()
    #: The HTML report's sections only this task's pairs have content for.
    report_sections: frozenset[str] = frozenset()
    #: The caption of the HTML report's per-class figure.
    per_class_caption: str = ""
    #: The default ``--max-length``.
    max_length_default: int = 0
    #: Why a metric defined only for the other task has no value on a pair of this one.
    undefined: str = ""
    #: Why the attack metrics are not measured (None: they are).
    not_attacked: str | None = None

    def detects(self, signature: Signature) -> bool:
        """Whether a model with this signature (``models.resolve.signature``) is of the task."""
        raise NotImplementedError

    def max_length(self, settings: Any) -> int:
        """``--max-length``, else the task's default."""
        given = settings.max_length
        return int(given) if given is not None else self.max_length_default

    def output_settings(self, settings: Any) -> dict[str, Any]:
        """The settings besides the common ones that change the task's outputs."""
        raise NotImplementedError

    def load(self, spec: str, settings: Any, cache_dir: Path | None) -> Model:
        """The model a spec names, loaded for this task."""
        raise NotImplementedError

    def read(self, role: str, spec: str, settings: Any) -> Any:
        """The ``role`` (eval, train, ood) dataset at ``spec``."""
        raise NotImplementedError

    def shown(self, data: Any) -> tuple[Text, ...]:
        """What a report shows of each example of ``data`` (here: its texts)."""
        return tuple(data.texts)

    def timed(self, data: Any) -> Sequence[Any]:
        """The inputs a latency measurement calls the model on (here: the texts)."""
        return data.texts  # type: ignore[no-any-return]

    def vectors(
        self, store: Store, model: Model, data: Any, settings: Any, *, eval_data: bool = False
    ) -> np.ndarray:
        """A model's (N, H) embeddings of ``data`` (on the eval data, from the pass that also
        gives its predictions)."""
        raise NotImplementedError

    def predictions(
        self, store: Store, teacher: Model, student: Model, data: Any, settings: Any
    ) -> PairPredictions:
        """The pair's aligned predictions on the eval data."""
        raise NotImplementedError

    def snapshot_entry(
        self, store: Store, model: Model, role: str, data: Any, settings: Any
    ) -> dict[str, Any]:
        """The outputs a snapshot keeps of ``model`` on ``data``: the fingerprint of the data
        and the keyword (``encoded`` or ``answers``) of the outputs."""
        raise NotImplementedError

    def pairwise_inputs(
        self, store: Store, models: Sequence[Model], data: Any, settings: Any
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """The keyword arguments of ``engine.pairwise.pairwise`` for ``models`` on ``data``,
        and why an output is missing (``predictions``, ``embeddings``) where one is."""
        raise NotImplementedError
