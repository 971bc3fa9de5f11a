"""The Model protocol and the batching shared by every backend."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from pytest_compressguard.core.errors import LabelMismatchError, MissingOutputError, ModelLoadError
from pytest_compressguard.core.fingerprints import hash_files
from pytest_compressguard.core.types import Encoded, Text
from pytest_compressguard.models.spec import ModelSpec

#: Examples per forward pass and truncation length in tokens, unless told otherwise (the
#: plugin's --batch-size and --max-length default to these).
BATCH_SIZE = 32
MAX_LENGTH = 128


_DEFAULT_LABEL = re.compile(r"^LABEL_\d+$")


@runtime_checkable
class Model(Protocol):
    """What a metric needs from a model: class probabilities and embeddings of texts."""

    spec: ModelSpec
    #: Class names by index, or None when the model does not name its classes.
    labels: tuple[str, ...] | None
    #: Number of classes; None for a model without a classification head.
    num_labels: int | None
    #: Why an output cannot be given, by output ("probabilities", "embeddings").
    missing: dict[str, str]

    def encode(
        self, texts: Sequence[Text], *, probabilities: bool = True, embeddings: bool = True
    ) -> Encoded:
        """The requested outputs of one pass over the texts (or pairs), in the input order."""
        ...

    def predict_proba(self, texts: Sequence[Text]) -> np.ndarray:
        """(N, C) float64 class probabilities, rows summing to 1, in the input order."""
        ...

    def embed(self, texts: Sequence[Text]) -> np.ndarray:
        """(N, H) float32 embeddings ([CLS] or masked mean of the last hidden state)."""
        ...

    def fingerprint(self) -> str:
        """A hash of the model's content (weights and configuration)."""
        ...


POOLINGS = ("cls", "mean")


def split_pairs(texts: Sequence[Text]) -> tuple[list[str], list[str] | None]:
    """The first texts and the second texts (None when the examples are single texts)."""
    pairs = [isinstance(t, tuple) for t in texts]
    if not any(pairs):
        return [str(t) for t in texts], None
    if not all(pairs):
        raise ValueError("a batch mixes single texts and text pairs")
    return [t[0] for t in texts], [t[1] for t in texts]  # type: ignore[index]


def pool(hidden: np.ndarray, mask: np.ndarray, pooling: str) -> np.ndarray:
    """(B, H) float32 from a (B, T, H) last hidden state; a (B, H) output is already pooled.

    ``cls``: the first unmasked position (the [CLS] token with right padding);
    ``mean``: the mean over unmasked positions.
    """
    hidden = np.asarray(hidden, dtype=np.float32)
    if hidden.ndim == 2:
        return hidden
    if pooling == "cls":
        return hidden[np.arange(len(hidden)), np.asarray(mask).argmax(axis=1)]
    weights = np.asarray(mask, dtype=np.float32)[:, :, None]
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)


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


def label_order(teacher: Model, student: Model) -> np.ndarray:
    """Column order putting the student's classes in the teacher's order (see align_labels)."""
    if teacher.num_labels is None or student.num_labels is None:
        raise MissingOutputError(
            f"{teacher.spec.text} vs {student.spec.text}: a model without a head has no labels"
        )
    return align_labels(
        teacher.labels,
        teacher.num_labels,
        student.labels,
        student.num_labels,
        f"{teacher.spec.text} vs {student.spec.text}",
    )


def softmax64(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def local_fingerprint(spec: ModelSpec) -> str | None:
    """The content hash of a local model from its files alone; None for a Hub model."""
    source = Path(spec.source)
    if spec.kind == "gguf":
        return hash_files([source])
    if spec.kind == "onnx":
        return hash_files([source, *source.parent.glob(source.name + ".data")])
    if spec.kind == "hf":
        return hash_files([source / "config.json", *source.glob("*.safetensors")])
    return None


class OneOutput:
    """``predict_proba`` and ``embed`` from a class's ``encode``, and the check of what it
    cannot give (``missing``)."""

    missing: dict[str, str]

    def require(self, probabilities: bool, embeddings: bool) -> None:
        """Raise the model's sentence for an asked output it cannot give."""
        for output, asked in (("probabilities", probabilities), ("embeddings", embeddings)):
            if asked and output in self.missing:
                raise MissingOutputError(self.missing[output])

    def encode(
        self, texts: Sequence[Text], *, probabilities: bool = True, embeddings: bool = True
    ) -> Encoded:
        raise NotImplementedError

    def predict_proba(self, texts: Sequence[Text]) -> np.ndarray:
        """(N, C) float64 class probabilities in the input order."""
        probs = self.encode(texts, embeddings=False).probabilities
        assert probs is not None
        return probs

    def embed(self, texts: Sequence[Text]) -> np.ndarray:
        """(N, H) float32 embeddings in the input order."""
        vectors = self.encode(texts, probabilities=False).embeddings
        assert vectors is not None
        return vectors


class BatchedModel(OneOutput):
    """Tokenize once, sort by length, run padded batches, return outputs in input order.

    Sorting by length keeps padding (and so wasted compute) small; the batches and therefore
    the outputs are the same on every run. Subclasses implement :meth:`_forward`.

    A dynamically quantized model (``per_example``) scales its int8 activations by the range of
    the whole input tensor, so one text's output would depend on the other texts in its batch;
    such a model runs one text at a time, so that each output is that text's own.
    """

    spec: ModelSpec
    labels: tuple[str, ...] | None
    num_labels: int | None
    per_example: bool = False
    #: Forward passes run side by side (threads), for a per-example model whose runtime
    #: releases the GIL.
    workers: int = 1

    def __init__(
        self, tokenizer: Any, *, batch_size: int, max_length: int, pooling: str = "cls"
    ) -> None:
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length
        self.pooling = pooling
        self.input_names: tuple[str, ...] = tuple(tokenizer.model_input_names)
        self.missing: dict[str, str] = {}

    def _forward(
        self, batch: dict[str, np.ndarray], *, logits: bool, hidden: bool
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Logits (B, C) and the last hidden state (B, T, H) or pooled (B, H), as requested."""
        raise NotImplementedError

    def _tokenize(self, texts: Sequence[Text]) -> Any:
        """Token ids of each text, or of each pair as the tokenizer encodes a pair (segment
        ids, [SEP]), truncating the longer side first."""
        firsts, seconds = split_pairs(texts)
        if seconds is None:
            return self.tokenizer(firsts, truncation=True, max_length=self.max_length)
        try:
            encoded = self.tokenizer(
                firsts, seconds, truncation="longest_first", max_length=self.max_length
            )
        except Exception as exc:  # tokenizers raise their own types
            raise ModelLoadError(
                f"{self.spec.text}: its tokenizer cannot encode text pairs ({exc}); "
                "gate it on single texts (no --text-pair-column)"
            ) from None
        segments = encoded.get("token_type_ids")
        if (
            segments is not None
            and "token_type_ids" not in self.input_names
            and any(any(row) for row in segments)
        ):
            raise ModelLoadError(
                f"{self.spec.text} takes no token_type_ids input, but its tokenizer marks the "
                "second text of a pair with them: the model could not tell the two texts apart "
                "(export it with its token_type_ids input)"
            )
        return encoded

    def batches(self, encoded: Any) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """Padded batches of tokenized rows, shortest rows first (one row at a time for a
        per-example model), each with the indices of the rows it holds."""
        order = np.argsort([len(x) for x in encoded["input_ids"]], kind="stable")
        step = 1 if self.per_example else self.batch_size
        for start in range(0, len(order), step):
            index = order[start : start + step]
            features = {
                name: [encoded[name][i] for i in index]
                for name in (*self.input_names, "attention_mask")
                if name in encoded
            }
            padded = self.tokenizer.pad(features, return_tensors="np")
            yield index, {k: np.asarray(v) for k, v in padded.items()}

    def encode(
        self, texts: Sequence[Text], *, probabilities: bool = True, embeddings: bool = True
    ) -> Encoded:
        """Float64 probabilities and float32 embeddings of the texts (or pairs) from one
        pass."""
        self.require(probabilities, embeddings)
        if len(texts) == 0:
            raise ValueError("no texts to encode")
        if not (probabilities or embeddings):
            return Encoded(None, None)  # nothing asked: no pass over the texts

        def forward(
            item: tuple[np.ndarray, dict[str, np.ndarray]],
        ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray | None, np.ndarray | None]:
            logits, hidden = self._forward(item[1], logits=probabilities, hidden=embeddings)
            return item[0], item[1], logits, hidden

        batches = self.batches(self._tokenize(texts))
        if self.workers > 1:  # calls side by side; results in order, each its own text's
            with ThreadPoolExecutor(self.workers) as pool_:
                return self._collect(len(texts), pool_.map(forward, batches))
        return self._collect(len(texts), map(forward, batches))

    def _collect(self, n: int, results: Iterable[Any]) -> Encoded:
        """The probabilities and pooled embeddings of the forward passes, in input order."""
        probs: np.ndarray | None = None
        vectors: np.ndarray | None = None
        for index, batch, logits, hidden in results:
            if logits is not None:
                if probs is None:
                    probs = np.empty((n, logits.shape[1]), dtype=np.float64)
                probs[index] = softmax64(logits)
            if hidden is not None:
                mask = batch.get("attention_mask", np.ones(batch["input_ids"].shape))
                pooled = pool(hidden, mask, self.pooling)
                if vectors is None:
                    vectors = np.empty((n, pooled.shape[1]), dtype=np.float32)
                vectors[index] = pooled
        return Encoded(probs, vectors)
