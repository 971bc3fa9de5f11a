"""Extractive question-answering models: a transformers ``*ForQuestionAnswering`` checkpoint
(local safetensors or the Hub), its PyTorch dynamic int8 form, or an ONNX graph with
``start_logits`` and ``end_logits`` outputs. Each answers questions as run_qa does
(:mod:`pytest_compressguard.models.qa`) and embeds each question with its first context window.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pytest_compressguard.core.errors import ModelLoadError
from pytest_compressguard.core.fingerprints import hash_files
from pytest_compressguard.core.types import Footprint, QAOutputs, Question
from pytest_compressguard.models.base import BATCH_SIZE, BatchedModel, pool
from pytest_compressguard.models.footprint import (
    onnx_footprint,
    onnx_runtime,
)
from pytest_compressguard.models.hf import checkpoint_fingerprint
from pytest_compressguard.models.qa import (
    DOC_STRIDE,
    MAX_ANSWER_LENGTH,
    N_BEST,
    NULL_THRESHOLD,
    QA_MAX_LENGTH,
    answers,
    windows,
)
from pytest_compressguard.models.spec import ModelSpec
from pytest_compressguard.models.tokenizer import load_tokenizer
from pytest_compressguard.models.torch_weights import torch_footprint, torch_runtime


class QuestionAnswerer(BatchedModel):
    """Windows -> start and end logits -> run_qa's answers. Subclasses give :meth:`_spans`."""

    labels = None
    num_labels = None

    def __init__(
        self,
        tokenizer: Any,
        *,
        batch_size: int,
        max_length: int,
        doc_stride: int,
        pooling: str,
    ) -> None:
        super().__init__(tokenizer, batch_size=batch_size, max_length=max_length, pooling=pooling)
        if doc_stride >= max_length:
            raise ValueError(f"doc stride {doc_stride} must be below the max length {max_length}")
        self.doc_stride = doc_stride
        self.missing["probabilities"] = (
            f"{self.spec.text} answers questions: it has no class probabilities"
        )

    def _spans(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start and end logits (B, T) and the last hidden state (B, T, H) of a batch."""
        raise NotImplementedError

    def answer(
        self,
        questions: Sequence[Question],
        *,
        n_best: int = N_BEST,
        max_answer_length: int = MAX_ANSWER_LENGTH,
        null_threshold: float = NULL_THRESHOLD,
    ) -> QAOutputs:
        """Each question's answer and embedding, in the input order."""
        if not questions:
            raise ValueError("no questions to answer")
        found = windows(
            self.tokenizer, questions, max_length=self.max_length, doc_stride=self.doc_stride
        )
        lengths = [len(ids) for ids in found.features["input_ids"]]
        first = {q: w for w, q in reversed(list(enumerate(found.question)))}
        starts: list[np.ndarray] = [np.empty(0)] * len(found)
        ends: list[np.ndarray] = [np.empty(0)] * len(found)
        vectors: np.ndarray | None = None
        left = self.tokenizer.padding_side == "left"
        for index, batch in self.batches(found.features):
            start, end, hidden = self._spans(batch)
            pooled = pool(hidden, batch["attention_mask"], self.pooling)
            if vectors is None:
                vectors = np.empty((len(questions), pooled.shape[1]), dtype=np.float32)
            for row, w in enumerate(index):
                n = lengths[w]
                own = slice(start.shape[1] - n, None) if left else slice(0, n)
                starts[w], ends[w] = start[row, own], end[row, own]
                if first[found.question[w]] == w:
                    vectors[found.question[w]] = pooled[row]
        assert vectors is not None
        chosen = answers(
            questions,
            found,
            starts,
            ends,
            n_best=n_best,
            max_answer_length=max_answer_length,
            null_threshold=null_threshold,
        )
        return QAOutputs(chosen, vectors)


class HFQuestionAnswerer(QuestionAnswerer):
    """A transformers ``*ForQuestionAnswering`` model loaded from safetensors."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        batch_size: int = BATCH_SIZE,
        max_length: int = QA_MAX_LENGTH,
        doc_stride: int = DOC_STRIDE,
        device: str = "cpu",
        tokenizer: str | None = None,
        pooling: str = "cls",
    ) -> None:
        from transformers import AutoModelForQuestionAnswering

        from pytest_compressguard.models.hf import accepted_inputs, load_checkpoint, torch_device

        self.spec = spec
        source = spec.source
        model, info = load_checkpoint(spec, AutoModelForQuestionAnswering)
        if info.get("missing_keys"):
            raise ModelLoadError(
                f"{spec.text} is no trained question-answering checkpoint (weights missing: "
                f"{', '.join(sorted(info['missing_keys'])[:4])})"
            )
        self.torch_device = torch_device(device)
        self.model = model.to(self.torch_device).eval()
        self.config = model.config
        super().__init__(
            load_tokenizer(tokenizer or source, spec=spec),
            batch_size=batch_size,
            max_length=max_length,
            doc_stride=doc_stride,
            pooling=pooling,
        )
        self.input_names = accepted_inputs(self.model, self.input_names)

    def _spans(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import torch

        from pytest_compressguard.models.hf import torch_inputs

        tensors = torch_inputs(batch, self.input_names, self.torch_device)
        with torch.inference_mode():
            out = self.model(**tensors, output_hidden_states=True)
        return (
            out.start_logits.float().cpu().numpy(),
            out.end_logits.float().cpu().numpy(),
            out.hidden_states[-1].float().cpu().numpy(),
        )

    def fingerprint(self) -> str:
        """SHA-256 of config.json and the weight files; for a Hub model, its commit."""
        return checkpoint_fingerprint(self.spec, self.config)

    def footprint(self) -> Footprint:
        """Its safetensors files, or (``int8:``, a Hub model) its weight tensors in memory."""
        return torch_footprint(self.model, self.spec.source)

    def runtime(self) -> tuple[str, int]:
        """``("torch", threads)``."""
        return torch_runtime()


class OnnxQuestionAnswerer(QuestionAnswerer):
    """An ONNX graph with outputs ``start_logits`` and ``end_logits`` (and the last hidden
    state, ``embedding_output``), run with onnxruntime; one window at a time when it quantizes
    its activations dynamically."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        batch_size: int = BATCH_SIZE,
        max_length: int = QA_MAX_LENGTH,
        doc_stride: int = DOC_STRIDE,
        device: str = "cpu",
        tokenizer: str | None = None,
        pooling: str = "cls",
        embedding_output: str = "last_hidden_state",
        path: str | None = None,
    ) -> None:
        from pytest_compressguard.models.onnx import (
            open_session,
            quantizes_activations,
            tokenizer_beside,
        )

        self.spec = spec
        self.path = Path(path or spec.source)
        tokenizer = tokenizer_beside(spec, self.path, tokenizer)
        self.session = open_session(spec, self.path, device)
        outputs = {o.name for o in self.session.get_outputs()}
        needed = ["start_logits", "end_logits", embedding_output]
        if not set(needed) <= outputs:
            raise ModelLoadError(
                f"ONNX model {spec.text} is no question-answering graph with an embedding: it "
                f"lacks {', '.join(n for n in needed if n not in outputs)} (its outputs: "
                f"{', '.join(sorted(outputs))})"
            )
        self.output_names = needed
        self.graph_inputs = [i.name for i in self.session.get_inputs()]
        super().__init__(
            load_tokenizer(tokenizer, spec=spec),
            batch_size=batch_size,
            max_length=max_length,
            doc_stride=doc_stride,
            pooling=pooling,
        )
        self.input_names = tuple(self.graph_inputs)
        self.per_example = quantizes_activations(self.path)

    def _spans(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from pytest_compressguard.models.onnx import graph_feed

        feed = graph_feed(self.spec, self.graph_inputs, batch)
        start, end, hidden = self.session.run(self.output_names, feed)
        return start, end, hidden

    def fingerprint(self) -> str:
        """SHA-256 of the .onnx file and any external-data files beside it."""
        return hash_files([self.path, *self.path.parent.glob(self.path.name + ".data")])

    def footprint(self) -> Footprint:
        """The .onnx file and its external data; the graph's initializers."""
        return onnx_footprint(self.path)

    def runtime(self) -> tuple[str, int]:
        """``("onnxruntime", threads)``: the session's threads (one call at a time)."""
        return onnx_runtime(self.session, self.workers)


def load_qa_model(
    spec: str | ModelSpec,
    *,
    batch_size: int = BATCH_SIZE,
    max_length: int = QA_MAX_LENGTH,
    doc_stride: int = DOC_STRIDE,
    device: str = "cpu",
    tokenizer: str | None = None,
    cache_dir: str | Path | None = None,
    pooling: str = "cls",
) -> QuestionAnswerer:
    """The question answerer a spec names: a ``*ForQuestionAnswering`` checkpoint (local or
    the Hub), an ONNX graph with start and end logits, or ``int8:``/``onnx-int8:`` of one."""
    from pytest_compressguard.models.compress import onnx_int8, quantize_torch_int8
    from pytest_compressguard.models.spec import parse_spec

    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    options: dict[str, Any] = {
        "batch_size": batch_size,
        "max_length": max_length,
        "doc_stride": doc_stride,
        "device": device,
        "pooling": pooling,
    }
    inner = parsed.inner
    if inner is None:
        if parsed.kind == "onnx":
            return OnnxQuestionAnswerer(parsed, tokenizer=tokenizer, **options)
        return HFQuestionAnswerer(parsed, tokenizer=tokenizer, **options)
    if parsed.kind == "int8":
        model = quantize_torch_int8(HFQuestionAnswerer(inner, tokenizer=tokenizer, **options))
        model.spec = parsed
        return model
    if cache_dir is None:
        raise ValueError("onnx-int8: needs a cache directory")
    source_class = OnnxQuestionAnswerer if inner.kind == "onnx" else HFQuestionAnswerer
    return onnx_int8(  # type: ignore[no-any-return]
        inner,
        lambda: source_class(inner, tokenizer=tokenizer, **options),
        Path(cache_dir),
        build=OnnxQuestionAnswerer,
        answerer=True,
        **options,
    )
