"""What compression buys: size, parameter count and latency of a model, measured.

- Size and parameters: what the backend reports (its ``footprint()``; see
  :mod:`pytest_compressguard.models.footprint` for how each backend measures them); for a
  snapshot, or a model not loaded yet, those recorded of it.
- Latency: the median wall time of one ``predict_proba`` call (``embed`` for a model without
  a head) on ``batch`` eval texts, after two warm-up calls, over at least 5 and at most 50
  timed calls (timing stops after 1 s once 5 are done). The runtime and its number of threads
  are recorded (the backend's ``runtime()``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from pytest_compressguard.core.errors import CompressGuardError
from pytest_compressguard.core.types import Footprint, Latency
from pytest_compressguard.models.base import Model
from pytest_compressguard.models.footprint import recorded_footprint as recorded_footprint
from pytest_compressguard.models.footprint import runtime_of

WARMUP = 2
MIN_RUNS = 5
MAX_RUNS = 50
BUDGET_S = 1.0


def footprint(model: Model) -> Footprint:
    """Size and parameters of a loaded model (its own ``footprint()``); a snapshot's, or a
    model not loaded yet, those recorded of it."""
    recorded = getattr(model, "recorded_footprint", None)
    if recorded is not None:
        return recorded()  # type: ignore[no-any-return]
    measure = getattr(model, "footprint", None)
    if measure is None:
        raise CompressGuardError(
            f"{model.spec.text}: its size is measured only for transformers and ONNX models"
        )
    return measure()  # type: ignore[no-any-return]


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
    runtime, threads = runtime_of(model)
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
