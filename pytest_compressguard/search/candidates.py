"""Candidate students: the teacher's fp32 ONNX export, dynamically quantized to int8 except
the operator groups kept in float32."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path


def quantize_keeping(fp32: Path, target: Path, keep: Iterable[str] = ()) -> Path:
    """onnxruntime's dynamic int8 quantization of ``fp32`` (weights int8, activations
    quantized per call, as ``onnx-int8:`` builds it), leaving the nodes named in ``keep``
    in float32; written to ``target``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from pytest_compressguard.models.compress import _root_logging_quiet

    # onnxruntime rewrites a Gemm as <name>_MatMul plus an Add before quantizing it: exclude
    # that name too
    excluded = sorted({name for node in keep for name in (node, f"{node}_MatMul")})
    target.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), _root_logging_quiet():
        warnings.simplefilter("ignore")
        quantize_dynamic(
            str(fp32),
            str(target),
            weight_type=QuantType.QInt8,
            nodes_to_exclude=excluded,
        )
    return target


def parameter_bytes(path: Path) -> int:
    """The bytes of a graph's weights: each initializer's elements times its element size
    (an int8 weight 1, its float32 scale 4)."""
    import math

    import numpy as np
    import onnx
    from onnx import helper

    graph = onnx.load(str(path), load_external_data=False).graph
    return sum(
        math.prod(init.dims) * np.dtype(helper.tensor_dtype_to_np_dtype(init.data_type)).itemsize
        for init in graph.initializer
    )
