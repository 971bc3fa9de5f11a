"""What compression buys: size, parameter count and latency of a model, measured.

- Size: the bytes of the model's weight files (``*.safetensors`` of a transformers directory;
  the ``.onnx`` file and its external-data file). An ``int8:`` model exists only in memory: its
  size is the bytes of its weight tensors (int8 weights, float biases and norms).
- Parameters: the elements of the weight tensors (a transformers model's parameters, with a
  dynamically quantized Linear layer's int8 weight and bias; an ONNX graph's initializers).
- Latency: the median wall time of one ``predict_proba`` call (``embed`` for a model without
  a head) on ``batch`` eval texts, after two warm-up calls, over at least 5 and at most 50
  timed calls (timing stops after 1 s once 5 are done). The number of threads is recorded.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from pytest_compressguard.core.errors import CompressGuardError
from pytest_compressguard.core.types import Footprint, Latency
from pytest_compressguard.models.base import Model

WARMUP = 2
MIN_RUNS = 5
MAX_RUNS = 50
BUDGET_S = 1.0






def recorded_footprint(description: dict[str, Any], missing: str) -> Footprint:
    """The footprint a model description records (``describe``'s ``footprint``), or its
    ``footprint_error`` after ``missing`` when it has none."""
    found = description.get("footprint")
    if found is None:
        why = description.get("footprint_error", "it was not measured")
        raise CompressGuardError(f"{missing}: {why}" if missing else str(why))
    return Footprint(**found)


def footprint(model: Model) -> Footprint:
    """Size and parameters of a loaded model (see the module docstring); a snapshot's, or a
    model not loaded yet, those recorded of it."""
    recorded = getattr(model, "recorded_footprint", None)
    if recorded is not None:
        return recorded()  # type: ignore[no-any-return]
    from pytest_compressguard.models.hf import HFClassifier
    from pytest_compressguard.models.onnx import OnnxClassifier
    from pytest_compressguard.models.qa_models import HFQuestionAnswerer, OnnxQuestionAnswerer

    if isinstance(model, (OnnxClassifier, OnnxQuestionAnswerer)):
        import onnx

        files = [model.path, *model.path.parent.glob(model.path.name + ".data")]
        graph = onnx.load(str(model.path), load_external_data=False).graph
        parameters = sum(math.prod(init.dims) for init in graph.initializer)
        return Footprint(sum(f.stat().st_size for f in files), int(parameters), "files")
    if isinstance(model, (HFClassifier, HFQuestionAnswerer)):
        parameters, tensor_bytes, quantized = _torch_weights(model.model)
        source = model.spec.source
        files = sorted(_safetensors(source)) if not quantized else []
        if files:
            return Footprint(sum(f.stat().st_size for f in files), parameters, "files")
        return Footprint(tensor_bytes, parameters, "memory")
    raise CompressGuardError(
        f"{model.spec.text}: its size is measured only for transformers and ONNX models"
    )


def _safetensors(source: str) -> list[Path]:
    folder = Path(source)
    return list(folder.glob("*.safetensors")) if folder.is_dir() else []


def _torch_weights(module: Any) -> tuple[int, int, bool]:
    """(elements, bytes, whether any Linear layer is dynamically quantized) of the weights."""
    from torch.ao.nn.quantized.dynamic import Linear as QuantizedLinear

    elements = size = 0
    quantized = False
    for sub in module.modules():
        if isinstance(sub, QuantizedLinear):
            quantized = True
            tensors = [sub.weight(), sub.bias()]
        else:
            tensors = list(sub.parameters(recurse=False))
        for t in tensors:
            if t is not None:
                elements += t.numel()
                size += t.numel() * t.element_size()
    return int(elements), int(size), quantized


def _runtime(model: Model) -> tuple[str, int]:
    from pytest_compressguard.models.deferred import unwrap
    from pytest_compressguard.models.onnx import OnnxClassifier

    model = unwrap(model)
    if isinstance(model, OnnxClassifier):
        threads = model.session.get_session_options().intra_op_num_threads
        return "onnxruntime", (threads or (os.cpu_count() or 1)) * model.workers
    import torch

    return "torch", torch.get_num_threads()


def measure_latency(model: Model, texts: Sequence[Any], batch: int) -> Latency:
    """The median time of one call on ``batch`` texts (cycled from ``texts``); for a
    question answerer, one ``answer`` call on ``batch`` questions (windows and
    post-processing included)."""
    if not texts:
        raise ValueError("no texts to time")
    inputs = [texts[i % len(texts)] for i in range(batch)]
    probabilities = "probabilities" not in model.missing
    answer = getattr(model, "answer", None)

    def call() -> None:
        if answer is not None:
            answer(inputs)
        else:
            model.encode(inputs, probabilities=probabilities, embeddings=not probabilities)

    for _ in range(WARMUP):
        call()
    times: list[float] = []
    spent = 0.0
    while len(times) < MAX_RUNS and (len(times) < MIN_RUNS or spent < BUDGET_S):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
        spent += times[-1]
    times.sort()
    middle = len(times) // 2
    median = times[middle] if len(times) % 2 else (times[middle - 1] + times[middle]) / 2
    runtime, threads = _runtime(model)
    return Latency(batch, median * 1000, len(times), runtime, threads)


class Measurements:
    """Each model's footprint and latencies, measured once per session; with a cache
    directory, one timing at a time on the machine (parallel workers would skew it)."""

    def __init__(self, cache_dir: Path | None) -> None:
        self.cache_dir = cache_dir
        self._footprints: dict[str, Footprint] = {}
        self._latencies: dict[tuple[str, int], Latency] = {}

    def footprint(self, model: Model) -> Footprint:
        """The model's size and parameter count."""
        if model.spec.text not in self._footprints:
            self._footprints[model.spec.text] = footprint(model)
        return self._footprints[model.spec.text]

    def latency(self, model: Model, texts: Sequence[Any], batch: int) -> Latency:
        """The model's median call time on ``batch`` of ``texts``."""
        key = (model.spec.text, batch)
        if model.spec.kind == "snapshot":
            raise CompressGuardError(model.latency_error())  # type: ignore[attr-defined]
        if key not in self._latencies:
            from pytest_compressguard.core.cache import locked

            lock = locked(self.cache_dir, "latency") if self.cache_dir else nullcontext()
            with lock:
                self._latencies[key] = measure_latency(model, texts, batch)
        return self._latencies[key]
