"""A PyTorch model's footprint and runtime (see :mod:`pytest_compressguard.models.footprint`
for the definitions): the one models module besides the backends that imports torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_compressguard.core.types import Footprint


def torch_footprint(module: Any, source: str) -> Footprint:
    """A PyTorch model's footprint: the bytes of the ``*.safetensors`` files of ``source``
    (a local directory), or, for a quantized model or one without local files, of its weight
    tensors in memory."""
    parameters, tensor_bytes, quantized = _torch_weights(module)
    files = sorted(_safetensors(source)) if not quantized else []
    if files:
        return Footprint(sum(f.stat().st_size for f in files), parameters, "files")
    return Footprint(tensor_bytes, parameters, "memory")


def _safetensors(source: str) -> list[Path]:
    folder = Path(source)
    return list(folder.glob("*.safetensors")) if folder.is_dir() else []


def _torch_weights(module: Any) -> tuple[int, int, bool]:
    """(elements, bytes, whether any Linear layer is dynamically quantized) of the weights,
    each tensor once."""
    from torch.ao.nn.quantized.dynamic import Linear as QuantizedLinear

    elements = size = 0
    quantized = False
    seen: set[int] = set()
    for sub in module.modules():
        if isinstance(sub, QuantizedLinear):
            quantized = True
            tensors = [sub.weight(), sub.bias()]  # unpacked copies: never shared
        else:  # a tied weight (the output embedding) is one parameter: count it once
            tensors = [p for p in sub.parameters(recurse=False) if id(p) not in seen]
            seen.update(id(p) for p in tensors)
        for t in tensors:
            if t is not None:
                elements += t.numel()
                size += t.numel() * t.element_size()
    return int(elements), int(size), quantized


def torch_runtime() -> tuple[str, int]:
    """``("torch", threads)``: PyTorch's intra-op threads."""
    import torch

    return "torch", torch.get_num_threads()
