"""What a backend says of itself: its footprint (size and parameter count) and the runtime
that runs it (name and threads), measured the same way for every backend.

- Size: the bytes of the model's weight files (``*.safetensors`` of a transformers directory;
  the ``.onnx`` file and its external-data file). An ``int8:`` model exists only in memory: its
  size is the bytes of its weight tensors (int8 weights, float biases and norms).
- Parameters: the elements of the weight tensors (a transformers model's parameters, with a
  dynamically quantized Linear layer's int8 weight and bias; an ONNX graph's initializers).
- Runtime: ``("onnxruntime", threads)`` for an ONNX graph (the session's intra-op threads, the
  CPU count when onnxruntime chooses, times the calls run side by side), ``("torch",
  torch.get_num_threads())`` for a PyTorch model.

This module imports onnx only, never torch (a PyTorch model's are in
:mod:`pytest_compressguard.models.torch_weights`).
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

from pytest_compressguard.core.errors import CompressGuardError
from pytest_compressguard.core.types import Footprint


def recorded_footprint(description: dict[str, Any], missing: str) -> Footprint:
    """The footprint a model description records (``describe``'s ``footprint``), or its
    ``footprint_error`` after ``missing`` when it has none."""
    found = description.get("footprint")
    if found is None:
        why = description.get("footprint_error", "it was not measured")
        raise CompressGuardError(f"{missing}: {why}" if missing else str(why))
    return Footprint(**found)


def onnx_footprint(path: Path) -> Footprint:
    """An ONNX graph's size (the .onnx file and its external data) and its initializers'
    elements."""
    import onnx

    files = [path, *path.parent.glob(path.name + ".data")]
    graph = onnx.load(str(path), load_external_data=False).graph
    parameters = sum(math.prod(init.dims) for init in graph.initializer)
    return Footprint(sum(f.stat().st_size for f in files), int(parameters), "files")


def onnx_runtime(session: Any, workers: int = 1) -> tuple[str, int]:
    """``("onnxruntime", threads)``: the session's intra-op threads (the CPU count when left to
    onnxruntime) times the calls run side by side."""
    threads = session.get_session_options().intra_op_num_threads
    return "onnxruntime", (threads or (os.cpu_count() or 1)) * workers


def runtime_of(model: Any) -> tuple[str, int]:
    """The model's own runtime; for a model that does not say (a stand-in), PyTorch's when
    torch is imported (a stand-in that runs imported it), else ``("unknown", 0)``."""
    runtime = getattr(model, "runtime", None)
    if runtime is not None:
        return runtime()  # type: ignore[no-any-return]
    torch = sys.modules.get("torch")  # never imported here: an ONNX session stays torch-free
    return ("torch", torch.get_num_threads()) if torch is not None else ("unknown", 0)
