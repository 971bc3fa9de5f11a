"""Model x Dataset -> outputs, computed once per session and shared on disk.

:class:`OutputStore` keeps each model's outputs on each dataset in memory for the session
and, with a cache directory, on disk for the processes of one machine (xdist workers,
reruns). A disk entry is ``<dir>/outputs/<key>.npz`` (the arrays, read with
``allow_pickle=False``) plus its manifest (see :mod:`pytest_compressguard.cache`); the key
hashes the model's content, the input settings and the texts. The check-compute-save of one
key holds an inter-process lock, so two workers needing the same model's outputs compute
them once: the second waits, then reads the first one's entry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_compressguard.core import cache
from pytest_compressguard.core.codecs import (
    arrays_from_bytes,
    arrays_to_bytes,
    from_bytes,
    qa_from_bytes,
    qa_to_bytes,
    to_bytes,
)
from pytest_compressguard.core.errors import MissingOutputError, ModelLoadError
from pytest_compressguard.core.types import Encoded
from pytest_compressguard.data.texts import Dataset
from pytest_compressguard.models.base import Model

if TYPE_CHECKING:
    from pytest_compressguard.core.types import QAOutputs
    from pytest_compressguard.data.questions import Questions
    from pytest_compressguard.models.qa_models import QuestionAnswerer

FORMAT = 1
#: The format of a question answerer's entry (answers, candidates and embeddings).
QA_FORMAT = 2
#: The format of a task's named-array entry (see :meth:`OutputStore.arrays`).
ARRAYS_FORMAT = 1


class OutputStore:
    """Each model's outputs on each dataset: computed at most once per session (and per
    machine with a cache directory)."""

    def __init__(self, cache_dir: Path | None, inputs: list[object]) -> None:
        self.cache_dir = cache_dir
        #: The settings that change a model's outputs (max length, pooling, ...): the key has them.
        self.inputs = inputs
        self._encoded: dict[tuple[str, str], Encoded] = {}
        self._answers: dict[tuple[str, str], QAOutputs] = {}
        self._arrays: dict[tuple[str, ...], dict[str, np.ndarray]] = {}
        self._fingerprints: dict[str, str] = {}

    def fingerprint(self, model: Model) -> str:
        """The model's content hash, computed once per session."""
        if model.spec.text not in self._fingerprints:
            self._fingerprints[model.spec.text] = model.fingerprint()
        return self._fingerprints[model.spec.text]

    def encoded(self, model: Model, dataset: Dataset, *, probabilities: bool) -> Encoded:
        """The model's outputs on the dataset: embeddings when the model gives them, and (when
        asked) probabilities from the same pass."""
        key = (model.spec.text, dataset.texts_fingerprint)
        want_probs = probabilities and "probabilities" not in model.missing
        want_vectors = "embeddings" not in model.missing
        found = self._encoded.get(key)
        if found is None or (want_probs and found.probabilities is None):
            if model.spec.kind == "snapshot":  # read from its file
                found = model.outputs(dataset)  # type: ignore[attr-defined]
                validate(model, dataset, found)
            elif self.cache_dir is None:
                found = self._encode(model, dataset, want_probs, want_vectors)
            else:
                found = self._encode_cached(model, dataset, want_probs, want_vectors)
            self._encoded[key] = found
        return found

    def _encode(
        self, model: Model, dataset: Dataset, probabilities: bool, embeddings: bool
    ) -> Encoded:
        found = model.encode(dataset.texts, probabilities=probabilities, embeddings=embeddings)
        validate(model, dataset, found)
        return found

    def _encode_cached(
        self, model: Model, dataset: Dataset, probabilities: bool, embeddings: bool
    ) -> Encoded:
        """From the disk cache, else computed and saved, under a lock on the key."""
        directory = self.cache_dir
        assert directory is not None
        store = cache.Store(directory, "outputs", ".npz", "output")
        key = cache.key(
            FORMAT,
            {
                "model": self.fingerprint(model),
                "inputs": self.inputs,
                "texts": dataset.texts_fingerprint,
            },
        )
        with cache.locked(directory, key):
            data = store.read(key)
            found = from_bytes(data) if data is not None else None
            if found is not None:
                try:
                    validate(model, dataset, found)
                except ModelLoadError:
                    found = None
            if found is None or (
                (probabilities and found.probabilities is None)
                or (embeddings and found.embeddings is None)
            ):
                found = self._encode(model, dataset, probabilities, embeddings)
                store.write(key, to_bytes(found))
        return found

    def answers(
        self, model: QuestionAnswerer, questions: Questions, settings: dict[str, Any]
    ) -> QAOutputs:
        """A question answerer's answers to the questions and their embeddings (``settings``:
        the keyword arguments of :meth:`QuestionAnswerer.answer`, which the key includes)."""
        key = (model.spec.text, questions.fingerprint)
        found = self._answers.get(key)
        if found is None:
            if model.spec.kind == "snapshot":  # read from its file
                found = model.answers(questions)  # type: ignore[attr-defined]
                validate_answers(model, questions, found)
            elif self.cache_dir is None:
                found = model.answer(questions.questions, **settings)
                validate_answers(model, questions, found)
            else:
                found = self._answers_cached(model, questions, settings)
            self._answers[key] = found
        return found

    def _answers_cached(
        self, model: QuestionAnswerer, questions: Questions, settings: dict[str, Any]
    ) -> QAOutputs:
        directory = self.cache_dir
        assert directory is not None
        store = cache.Store(directory, "outputs", ".npz", "output")
        key = cache.key(
            QA_FORMAT,
            {
                "output": "answers",
                "model": self.fingerprint(model),
                "inputs": self.inputs,
                "window": [model.max_length, model.doc_stride],
                "answer": settings,
                "questions": questions.fingerprint,
            },
        )
        with cache.locked(directory, key):
            data = store.read(key)
            if data is not None:
                try:
                    found = qa_from_bytes(data)
                    validate_answers(model, questions, found)
                    return found
                except (ModelLoadError, ValueError, KeyError):
                    pass
            found = model.answer(questions.questions, **settings)
            validate_answers(model, questions, found)
            store.write(key, qa_to_bytes(found))
        return found

    def arrays(
        self,
        model: Model,
        output: str,
        data: str,
        settings: dict[str, Any],
        compute: Callable[[], dict[str, np.ndarray]],
    ) -> dict[str, np.ndarray]:
        """A task's named arrays ``output`` of ``model`` on the data fingerprinted ``data``
        (``settings``: what else changes them, in the key), from ``compute`` at most once per
        session, and once per machine with a cache directory."""
        memo = (model.spec.text, output, data, json.dumps(settings, sort_keys=True))
        found = self._arrays.get(memo)
        if found is not None:
            return found
        if self.cache_dir is None or model.spec.kind == "snapshot":
            found = compute()
        else:
            directory = self.cache_dir
            store = cache.Store(directory, "outputs", ".npz", "output")
            key = cache.key(
                ARRAYS_FORMAT,
                {
                    "output": output,
                    "model": self.fingerprint(model),
                    "inputs": self.inputs,
                    "settings": settings,
                    "data": data,
                },
            )
            with cache.locked(directory, key):
                raw = store.read(key)
                found = arrays_from_bytes(raw) if raw is not None else None
                if found is None:
                    found = compute()
                    store.write(key, arrays_to_bytes(found))
        self._arrays[memo] = found
        return found

    def _require(
        self, model: Model, dataset: Dataset, output: str, probabilities: bool
    ) -> np.ndarray:
        found = getattr(self.encoded(model, dataset, probabilities=probabilities), output)
        if found is None:
            raise MissingOutputError(
                model.missing.get(output, f"{model.spec.text} gave no {output}")
            )
        return found

    def probabilities(self, model: Model, dataset: Dataset) -> np.ndarray:
        """The model's (N, C) class probabilities on the dataset."""
        return self._require(model, dataset, "probabilities", True)

    def embeddings(
        self, model: Model, dataset: Dataset, *, with_probabilities: bool = False
    ) -> np.ndarray:
        """The model's (N, H) embeddings of the dataset; ``with_probabilities`` computes the
        probabilities in the same pass (the eval data: a later prediction metric then needs no
        second pass)."""
        return self._require(model, dataset, "embeddings", with_probabilities)


def validate(model: Model, dataset: Dataset, found: Encoded) -> None:
    """Refuse outputs of the wrong shape or with non-finite values."""
    for name, array, width in (
        ("probabilities", found.probabilities, model.num_labels),
        ("embeddings", found.embeddings, None),
    ):
        if array is None:
            continue
        bad_shape = array.ndim != 2 or len(array) != len(dataset)
        if bad_shape or (width is not None and array.shape[1] != width):
            raise ModelLoadError(
                f"{model.spec.text} gave {name} of shape {array.shape} for {len(dataset)} texts"
            )
        if not np.isfinite(array).all():
            raise ModelLoadError(
                f"{model.spec.text} gave {int((~np.isfinite(array)).sum())} non-finite "
                f"{name} on {dataset.spec}"
            )


def validate_answers(model: Model, questions: Questions, found: QAOutputs) -> None:
    """Refuse answers of the wrong count or embeddings of the wrong shape or not finite."""
    n = len(questions)
    e = found.embeddings
    if len(found.answers) != n or e.ndim != 2 or len(e) != n:
        raise ModelLoadError(
            f"{model.spec.text} gave {len(found.answers)} answers and embeddings of shape "
            f"{e.shape} for {n} questions"
        )
    if not np.isfinite(e).all():
        raise ModelLoadError(
            f"{model.spec.text} gave {int((~np.isfinite(e)).sum())} non-finite embedding "
            f"values on {questions.spec}"
        )
