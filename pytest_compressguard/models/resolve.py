"""Model spec string -> a loaded Model."""

from __future__ import annotations

from pathlib import Path

from .base import BATCH_SIZE, MAX_LENGTH, Model
from .spec import ModelSpec, parse_spec


def load_model(
    spec: str | ModelSpec,
    *,
    batch_size: int = BATCH_SIZE,
    max_length: int = MAX_LENGTH,
    device: str = "cpu",
    tokenizer: str | None = None,
    cache_dir: str | Path | None = None,
    pooling: str = "cls",
    embedding_output: str = "last_hidden_state",
) -> Model:
    """Load the model a spec names: Hugging Face (local or Hub), ONNX, int8: or onnx-int8:."""
    from .compress import onnx_int8, quantize_torch_int8
    from .hf import HFClassifier
    from .onnx import OnnxClassifier

    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    options = {
        "batch_size": batch_size,
        "max_length": max_length,
        "device": device,
        "pooling": pooling,
    }
    onnx_options = {**options, "embedding_output": embedding_output}
    if parsed.inner is not None:
        inner = parsed.inner
        if parsed.kind == "int8":
            base = HFClassifier(inner, tokenizer=tokenizer, **options)
            model = quantize_torch_int8(base)
            model.spec = parsed
            return model
        if cache_dir is None:
            raise ValueError("onnx-int8: needs a cache directory")
        cache_dir = Path(cache_dir)
        if inner.kind == "onnx":
            return onnx_int8(
                inner,
                lambda: OnnxClassifier(inner, tokenizer=tokenizer, **onnx_options),
                cache_dir,
                **onnx_options,
            )
        return onnx_int8(
            inner, lambda: HFClassifier(inner, tokenizer=tokenizer, **options), cache_dir, **options
        )
    if parsed.kind == "onnx":
        return OnnxClassifier(parsed, tokenizer=tokenizer, **onnx_options)
    return HFClassifier(parsed, tokenizer=tokenizer, **options)
