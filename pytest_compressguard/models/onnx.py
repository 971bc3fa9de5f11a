"""ONNX (and quantized ONNX) sequence classifiers, run with onnxruntime."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from pytest_compressguard.core.errors import ModelLoadError
from pytest_compressguard.core.fingerprints import hash_files
from pytest_compressguard.core.types import Footprint
from pytest_compressguard.models.base import BATCH_SIZE, MAX_LENGTH, BatchedModel, label_names
from pytest_compressguard.models.footprint import onnx_footprint, onnx_runtime
from pytest_compressguard.models.spec import ModelSpec
from pytest_compressguard.models.tokenizer import load_tokenizer

_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "spiece.model")


#: Output names that hold embeddings, never logits.
_NOT_LOGITS = ("hidden", "embedding", "pooler", "token")


def quantizes_activations(path: Path) -> bool:
    """Whether the graph quantizes activations dynamically (per call, over the whole tensor)."""
    import onnx

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception:  # unreadable by onnx (e.g. > 2 GiB): assume the slower, safe way
        return True
    return any(node.op_type == "DynamicQuantizeLinear" for node in graph.node)


def tokenizer_beside(spec: ModelSpec, path: Path, tokenizer: str | None) -> str:
    """``tokenizer`` if given, else the folder of the .onnx file when it holds tokenizer
    files (a clear error when it does not)."""
    if tokenizer is not None:
        return tokenizer
    if not any((path.parent / name).is_file() for name in _TOKENIZER_FILES):
        raise ModelLoadError(
            f"{spec.text}: no tokenizer files beside {path.name}; pass --tokenizer DIR (or a "
            "Hub id)"
        )
    return str(path.parent)


def parallel_workers() -> int:
    """Calls run side by side for a model that runs one text per call: onnxruntime releases
    the GIL, and on short inputs one thread per call beats several threads on one call
    (measured 1.3x on 2 cores for a MiniLM int8 graph)."""
    return max(1, min(os.cpu_count() or 1, 8))


def open_session(spec: ModelSpec, path: Path, device: str, threads: int = 0) -> Any:
    """An onnxruntime session of the graph on the CPU or CUDA, with one-sentence errors
    (``threads``: intra-op threads, 0 for onnxruntime's default)."""
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    if device == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ModelLoadError(
                "--device cuda was given, but onnxruntime has no CUDA provider "
                "(install onnxruntime-gpu)"
            )
        providers.insert(0, "CUDAExecutionProvider")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelLoadError(f"cannot load ONNX model {spec.text}: {exc}") from None


def graph_feed(
    spec: ModelSpec, graph_inputs: Iterable[str], batch: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The graph's inputs from a tokenized batch (int64; zero segment ids when the tokenizer
    gives none)."""
    feed = {}
    for name in graph_inputs:
        if name in batch:
            feed[name] = batch[name].astype(np.int64)
        elif name == "token_type_ids":
            feed[name] = np.zeros_like(batch["input_ids"], dtype=np.int64)
        else:
            raise ModelLoadError(
                f"ONNX model {spec.text} needs input {name!r}, which the tokenizer does not give"
            )
    return feed


class OnnxClassifier(BatchedModel):
    """An ONNX graph run with onnxruntime.

    Logits: the output ``logits``, else the first output of shape (batch, C) whose name does not
    suggest embeddings. Embeddings: the output named ``embedding_output`` (default
    ``last_hidden_state``), pooled when it has shape (batch, tokens, H), taken as it is when
    (batch, H). A graph needs at least one of the two. The tokenizer comes from ``tokenizer``
    or from tokenizer files beside the .onnx file; class names from a config.json beside it.
    """

    def __init__(
        self,
        spec: ModelSpec,
        *,
        batch_size: int = BATCH_SIZE,
        max_length: int = MAX_LENGTH,
        device: str = "cpu",
        tokenizer: str | None = None,
        pooling: str = "cls",
        embedding_output: str = "last_hidden_state",
        path: str | None = None,
    ) -> None:
        self.spec = spec
        self.path = Path(path or spec.source)
        folder = self.path.parent
        tokenizer = tokenizer_beside(spec, self.path, tokenizer)
        per_example = quantizes_activations(self.path)
        if per_example and device == "cpu":  # one text per call: texts side by side instead
            self.workers = parallel_workers()
        self.session = open_session(spec, self.path, device, 1 if self.workers > 1 else 0)
        outputs = self.session.get_outputs()
        described = ", ".join(f"{o.name} {list(o.shape)}" for o in outputs)
        logits = next((o for o in outputs if o.name == "logits"), None)
        if logits is None:
            logits = next(
                (
                    o
                    for o in outputs
                    if len(o.shape) == 2
                    and o.name != embedding_output
                    and not any(word in o.name.lower() for word in _NOT_LOGITS)
                ),
                None,
            )
        hidden = next((o for o in outputs if o.name == embedding_output), None)
        if logits is not None and len(logits.shape) != 2:
            raise ModelLoadError(
                f"ONNX model {spec.text}: its 'logits' output is not of shape (batch, classes); "
                f"its outputs are: {described}"
            )
        if hidden is not None and len(hidden.shape) not in (2, 3):
            raise ModelLoadError(
                f"ONNX model {spec.text}: output {embedding_output!r} has shape "
                f"{list(hidden.shape)}, expected (batch, tokens, hidden) or (batch, hidden)"
            )
        if logits is None and hidden is None:
            raise ModelLoadError(
                f"ONNX model {spec.text} has neither a 'logits' output of shape (batch, classes) "
                f"nor an embedding output {embedding_output!r}; its outputs are: {described}"
            )
        self.output_name = logits.name if logits is not None else None
        self.hidden_name = hidden.name if hidden is not None else None
        self.graph_inputs = {i.name for i in self.session.get_inputs()}
        if "input_ids" not in self.graph_inputs:
            raise ModelLoadError(
                f"ONNX model {spec.text} has no input named input_ids "
                f"(inputs: {', '.join(sorted(self.graph_inputs))})"
            )
        config = self._config(folder)
        super().__init__(
            load_tokenizer(tokenizer, spec=spec),
            batch_size=batch_size,
            max_length=max_length,
            pooling=pooling,
        )
        self.input_names = tuple(n for n in self.graph_inputs)
        self.per_example = per_example
        if hidden is None:
            self.missing["embeddings"] = (
                f"ONNX model {spec.text} has no output {embedding_output!r} (its outputs are: "
                f"{described}); representation metrics need the last hidden state "
                "(name another output with --embedding-output)"
            )
        if logits is None:
            self.missing["probabilities"] = (
                f"ONNX model {spec.text} has no 'logits' output (its outputs are: {described}); "
                "prediction metrics need a classifier"
            )
            self.labels, self.num_labels = None, None
            return
        self.labels = label_names(config.get("id2label"))
        width = logits.shape[1]
        if isinstance(width, int):
            self.num_labels = width
        elif self.labels is not None:
            self.num_labels = len(self.labels)
        else:
            probe = self.tokenizer(["a"], return_tensors="np")  # one text: nothing to pad
            found = self._forward(dict(probe), logits=True, hidden=False)[0]
            assert found is not None
            self.num_labels = int(found.shape[1])
        if self.labels is not None and len(self.labels) != self.num_labels:
            raise ModelLoadError(
                f"{spec.text}: config.json names {len(self.labels)} classes but the model "
                f"gives {self.num_labels}"
            )

    def _config(self, folder: Path) -> dict[str, Any]:
        path = folder / "config.json"
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{path} is not valid JSON: {exc}") from None

    def _forward(
        self, batch: dict[str, np.ndarray], *, logits: bool, hidden: bool
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        feed = graph_feed(self.spec, self.graph_inputs, batch)
        names = [
            n for n, asked in ((self.output_name, logits), (self.hidden_name, hidden)) if asked
        ]
        found = dict(zip(names, self.session.run(names, feed), strict=True))
        return found.get(self.output_name), found.get(self.hidden_name)  # None if not asked

    def fingerprint(self) -> str:
        """SHA-256 of the .onnx file and any external-data files beside it."""
        return hash_files([self.path, *self.path.parent.glob(self.path.name + ".data")])

    def footprint(self) -> Footprint:
        """The .onnx file and its external data; the graph's initializers."""
        return onnx_footprint(self.path)

    def runtime(self) -> tuple[str, int]:
        """``("onnxruntime", threads)``, the calls run side by side counted."""
        return onnx_runtime(self.session, self.workers)
