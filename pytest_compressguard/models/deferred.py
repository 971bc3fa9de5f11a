"""Models known from their description until a pass over new texts needs the weights.

An unchanged rerun reads every output from the cache, so the only work left in loading a
model would be importing torch or onnxruntime and reading weights. The session therefore
records, once per model, what the metrics read from a loaded model (its description: content
fingerprint, labels, missing outputs, size and parameter count) in the cache, keyed by the
content hash of the model's files, the settings it is loaded with and the library versions.
With a description at hand, the session gives a :class:`DeferredModel`: it answers from the
description, and loads the model the first time anything else is asked of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

import numpy as np

from pytest_compressguard.core.errors import CompressGuardError
from pytest_compressguard.core.types import Encoded, Footprint, Text
from pytest_compressguard.models.base import Model
from pytest_compressguard.models.footprint import recorded_footprint, runtime_of
from pytest_compressguard.models.spec import ModelSpec

#: Bump when a description's fields or meaning change.
FORMAT = 1
_LIBRARIES = ("torch", "transformers", "onnxruntime", "onnx", "pytest-compressguard")


def versions() -> list[str]:
    """The installed versions of the libraries a loaded model depends on (read from their
    metadata, without importing them)."""
    found = []
    for name in _LIBRARIES:
        try:
            found.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} absent")
    return found


def describe(model: Model, fingerprint: str, footprint: Callable[[], Any]) -> dict[str, Any]:
    """What :class:`DeferredModel` answers without the weights, from a loaded model."""
    out: dict[str, Any] = {
        "fingerprint": fingerprint,
        "labels": None if model.labels is None else list(model.labels),
        "num_labels": model.num_labels,
        "missing": dict(model.missing),
        "max_length": getattr(model, "max_length", None),
        "doc_stride": getattr(model, "doc_stride", None),
    }
    try:
        out["footprint"] = vars(footprint())
    except CompressGuardError as exc:
        out["footprint_error"] = str(exc)
    return out


class DeferredModel:
    """A model answering from its description; loaded (once) when it must run."""

    def __init__(
        self, spec: ModelSpec, description: dict[str, Any], load: Callable[[], Model]
    ) -> None:
        self.spec = spec
        labels = description["labels"]
        self.labels: tuple[str, ...] | None = None if labels is None else tuple(labels)
        self.num_labels: int | None = description["num_labels"]
        self.missing: dict[str, str] = dict(description["missing"])
        self.max_length = description["max_length"]
        self.doc_stride = description["doc_stride"]
        self._description = description
        self._load = load
        self._model: Model | None = None

    @property
    def loaded(self) -> Model:
        """The model itself, loaded on first use."""
        if self._model is None:
            self._model = self._load()
        return self._model

    def fingerprint(self) -> str:
        return str(self._description["fingerprint"])

    def recorded_footprint(self) -> Footprint:
        """The recorded size and parameter count (the recorded error when there is none)."""
        return recorded_footprint(self._description, "")

    def footprint(self) -> Footprint:
        """The recorded footprint: measuring it needs no weights."""
        return self.recorded_footprint()

    def runtime(self) -> tuple[str, int]:
        """The loaded model's runtime (loading it)."""
        return runtime_of(self.loaded)

    def encode(
        self, texts: Sequence[Text], *, probabilities: bool = True, embeddings: bool = True
    ) -> Encoded:
        return self.loaded.encode(texts, probabilities=probabilities, embeddings=embeddings)

    def predict_proba(self, texts: Sequence[Text]) -> np.ndarray:
        return self.loaded.predict_proba(texts)

    def embed(self, texts: Sequence[Text]) -> np.ndarray:
        return self.loaded.embed(texts)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.loaded, name)  # answer, session, tokenizer, ...


def unwrap(model: Any) -> Any:
    """The loaded model behind a :class:`DeferredModel` (loading it), else the model."""
    return model.loaded if isinstance(model, DeferredModel) else model
