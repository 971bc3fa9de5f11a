"""The Model protocol and the batching shared by every backend."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import LabelMismatchError
from .spec import ModelSpec

_DEFAULT_LABEL = re.compile(r"^LABEL_\d+$")


@runtime_checkable
class Model(Protocol):
    """What a metric needs from a model: class probabilities for texts."""

    spec: ModelSpec
    #: Class names by index, or None when the model does not name its classes.
    labels: tuple[str, ...] | None
    num_labels: int

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(N, C) float64 class probabilities, rows summing to 1, in the input order."""
        ...

    def fingerprint(self) -> str:
        """A hash of the model's content (weights and configuration)."""
        ...


def label_names(id2label: dict[Any, str] | None) -> tuple[str, ...] | None:
    """Class names from a config's id2label, or None for transformers' LABEL_i defaults."""
    if not id2label:
        return None
    names = tuple(str(id2label[key]) for key in sorted(id2label, key=int))
    if all(_DEFAULT_LABEL.match(name) for name in names):
        return None
    return names


def align_labels(
    teacher: tuple[str, ...] | None,
    teacher_count: int,
    student: tuple[str, ...] | None,
    student_count: int,
    pair: str,
) -> np.ndarray:
    """Column order that puts the student's classes in the teacher's order.

    By name when both models name their classes, else by index. Mismatches raise.
    """
    if teacher is not None and student is not None:
        if sorted(teacher) != sorted(student):
            raise LabelMismatchError(
                f"{pair}: the models' label sets differ: teacher {list(teacher)}, "
                f"student {list(student)}"
            )
        position = {name: i for i, name in enumerate(student)}
        return np.array([position[name] for name in teacher], dtype=np.int64)
    if teacher_count != student_count:
        raise LabelMismatchError(
            f"{pair}: the teacher has {teacher_count} classes and the student {student_count}"
        )
    return np.arange(teacher_count, dtype=np.int64)


def softmax64(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def hash_files(paths: Iterable[Path]) -> str:
    """SHA-256 over the names and bytes of files, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def local_fingerprint(spec: ModelSpec) -> str | None:
    """The content hash of a local model from its files alone; None for a Hub model."""
    source = Path(spec.source)
    if spec.kind == "onnx":
        return hash_files([source, *source.parent.glob(source.name + ".data")])
    if spec.kind == "hf":
        return hash_files([source / "config.json", *source.glob("*.safetensors")])
    return None


class BatchedClassifier:
    """Tokenize once, sort by length, run padded batches, return probabilities in input order.

    Sorting by length keeps padding (and so wasted compute) small; the batches and therefore
    the outputs are the same on every run.
    """

    spec: ModelSpec
    labels: tuple[str, ...] | None
    num_labels: int

    def __init__(self, tokenizer: Any, *, batch_size: int, max_length: int) -> None:
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length
        self.input_names: tuple[str, ...] = tuple(tokenizer.model_input_names)

    def _logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(N, C) float64 class probabilities in the input order."""
        if len(texts) == 0:
            return np.zeros((0, self.num_labels))
        encoded = self.tokenizer(
            list(texts), truncation=True, max_length=self.max_length, padding=False
        )
        ids = encoded["input_ids"]
        order = np.argsort([len(x) for x in ids], kind="stable")
        out: np.ndarray | None = None
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            features = {
                name: [encoded[name][i] for i in index]
                for name in self.input_names
                if name in encoded
            }
            batch = self.tokenizer.pad(features, return_tensors="np")
            probs = softmax64(self._logits({k: np.asarray(v) for k, v in batch.items()}))
            if out is None:
                out = np.empty((len(texts), probs.shape[1]), dtype=np.float64)
            out[index] = probs
        assert out is not None
        return out
