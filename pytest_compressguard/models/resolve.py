"""Model spec string -> a loaded Model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pytest_compressguard.core.errors import ModelLoadError
from pytest_compressguard.models.base import BATCH_SIZE, MAX_LENGTH, Model
from pytest_compressguard.models.spec import ModelSpec, parse_spec


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
    """Load the model a spec names: Hugging Face (local or Hub), ONNX, int8:, onnx-int8: or
    snapshot: (outputs read from a file; its settings are not checked here)."""
    from pytest_compressguard.models.compress import onnx_int8, quantize_torch_int8
    from pytest_compressguard.models.hf import HFClassifier
    from pytest_compressguard.models.onnx import OnnxClassifier

    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    if (parsed.inner or parsed).kind == "gguf":
        raise ModelLoadError(
            f"{parsed.text} is a GGUF file, which holds a causal language model; classifiers "
            "and question answerers load from a directory, a Hub id or an .onnx file"
        )
    if parsed.kind == "snapshot":
        from pytest_compressguard.models.snapshot import SnapshotModel

        return SnapshotModel(parsed)  # type: ignore[return-value]
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


@dataclass(frozen=True)
class Signature:
    """What a model says of itself without loading weights: a checkpoint's architectures, an
    ONNX graph's output names, the task a snapshot recorded, the spec's kind (``gguf``: a
    file that holds a causal LM); the tasks read it."""

    architectures: tuple[str, ...] = ()
    outputs: frozenset[str] = frozenset()
    recorded_task: str | None = None
    kind: str = ""
    #: the rank of an ONNX graph's ``logits`` output (3: per token, a causal LM's)
    logits_rank: int = 0


def signature(spec: str | ModelSpec) -> Signature:
    """The :class:`Signature` of the model a spec names (of the inner model of ``int8:`` and
    ``onnx-int8:``), read from config.json, the graph's outputs or a snapshot's manifest."""
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    if parsed.inner is not None:
        return signature(parsed.inner)
    if parsed.kind == "snapshot":
        from pytest_compressguard.models.snapshot import open_snapshot

        return Signature(recorded_task=open_snapshot(parsed.source).task)
    if parsed.kind == "onnx":
        import onnx

        try:
            graph = onnx.load(parsed.source, load_external_data=False).graph
        except Exception as exc:  # onnx raises its own types for unreadable files
            raise ModelLoadError(f"cannot read ONNX model {parsed.text}: {exc}") from None
        logits = next((o for o in graph.output if o.name == "logits"), None)
        rank = len(logits.type.tensor_type.shape.dim) if logits is not None else 0
        return Signature(outputs=frozenset(o.name for o in graph.output), logits_rank=rank)
    if parsed.kind == "gguf":
        return Signature(kind="gguf")  # no config.json: the file is read when it loads
    if parsed.kind == "hf":
        try:
            config = json.loads((Path(parsed.source) / "config.json").read_text())
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{parsed.text}: no readable config.json ({exc})") from None
    else:
        from transformers import AutoConfig

        from pytest_compressguard.models.tokenizer import hub_error, quiet_loading

        try:
            with quiet_loading():
                config = AutoConfig.from_pretrained(parsed.source).to_dict()
        except (OSError, ValueError) as exc:
            raise hub_error(parsed, exc) from None
    return Signature(architectures=tuple(config.get("architectures") or ()))
