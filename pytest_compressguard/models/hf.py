"""Hugging Face PyTorch sequence classifiers, from a local directory or the Hub."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np

from pytest_compressguard.core.errors import ModelLoadError
from pytest_compressguard.core.types import Footprint
from pytest_compressguard.models.base import (
    BATCH_SIZE,
    MAX_LENGTH,
    BatchedModel,
    label_names,
    local_fingerprint,
)
from pytest_compressguard.models.spec import ModelSpec
from pytest_compressguard.models.tokenizer import hub_error, load_tokenizer, quiet_loading
from pytest_compressguard.models.torch_weights import torch_footprint, torch_runtime


def accepted_inputs(model: Any, names: tuple[str, ...]) -> tuple[str, ...]:
    """The tokenizer's input names that the model's ``forward`` takes."""
    accepted = inspect.signature(model.forward).parameters
    return tuple(n for n in names if n in accepted)


def torch_inputs(batch: dict[str, np.ndarray], names: tuple[str, ...], device: Any) -> dict:
    """The batch's arrays of ``names`` as tensors on ``device``."""
    import torch

    return {name: torch.from_numpy(batch[name]).to(device) for name in names if name in batch}


class _NoSuchHead(ModelLoadError):
    """The checkpoint's architecture has no class of the asked kind (e.g. no classifier)."""


def load_checkpoint(spec: ModelSpec, auto_class: Any) -> tuple[Any, dict[str, Any]]:
    """``auto_class.from_pretrained`` on the spec's source, from safetensors only, quietly,
    with its loading info; every failure is one sentence."""
    source = spec.source
    local = Path(source).is_dir()
    if local and not any(Path(source).glob("*.safetensors")):
        raise ModelLoadError(
            f"{spec.text} has no .safetensors weights; pytest-compressguard does not unpickle "
            "pytorch_model.bin files (convert it: model.save_pretrained(dir, "
            "safe_serialization=True))"
        )
    try:
        with quiet_loading():
            return auto_class.from_pretrained(  # type: ignore[no-any-return]
                source, use_safetensors=True, output_loading_info=True
            )
    except OSError as exc:
        if local:
            raise ModelLoadError(f"cannot load {spec.text}: {exc}") from None
        raise hub_error(spec, exc) from None
    except ValueError as exc:
        if "Unrecognized configuration class" in str(exc):
            raise _NoSuchHead(f"{spec.text}: {str(exc).splitlines()[0]}") from None
        raise ModelLoadError(f"cannot load {spec.text}: {str(exc).splitlines()[0]}") from None


def torch_device(device: str) -> Any:
    """The torch device for ``--device`` (a clear error for cuda without CUDA)."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("--device cuda was given, but PyTorch sees no CUDA device")
    return torch.device(device)


def _head_keys(missing: list[str], prefix: str) -> tuple[list[str], list[str]]:
    """Split missing weights into head weights (outside the base model, or its pooler) and
    base-model weights."""
    head, base = [], []
    for key in missing:
        inside = key.startswith(prefix + ".") and not key.startswith(prefix + ".pooler.")
        (base if inside else head).append(key)
    return head, base


class HFClassifier(BatchedModel):
    """A transformers model loaded from safetensors: a sequence classifier, or a bare encoder
    (no head: embeddings only, as in Rai et al.'s "before fine-tuning" columns)."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        batch_size: int = BATCH_SIZE,
        max_length: int = MAX_LENGTH,
        device: str = "cpu",
        tokenizer: str | None = None,
        pooling: str = "cls",
    ) -> None:
        from transformers import AutoModel, AutoModelForSequenceClassification

        self.spec = spec
        source = spec.source
        try:
            model, info = load_checkpoint(spec, AutoModelForSequenceClassification)
            head = True
        except _NoSuchHead:  # an architecture with no sequence-classification class
            model, info = load_checkpoint(spec, AutoModel)
            head = False
        head_missing, base_missing = _head_keys(
            sorted(info.get("missing_keys") or ()), model.base_model_prefix
        )
        if base_missing:
            raise ModelLoadError(
                f"{spec.text}: the checkpoint lacks weights of the model itself "
                f"({', '.join(base_missing[:4])}); it does not match its config.json"
            )
        if head and head_missing:
            model, head = model.base_model, False  # drop the randomly initialised head
        self.has_head = head
        self.torch_device = torch_device(device)
        self.model = model.to(self.torch_device).eval()
        self.config = model.config
        self.labels = label_names(model.config.id2label) if head else None
        self.num_labels = int(model.config.num_labels) if head else None
        super().__init__(
            load_tokenizer(tokenizer or source, spec=spec),
            batch_size=batch_size,
            max_length=max_length,
            pooling=pooling,
        )
        if not head:
            self.missing["probabilities"] = (
                f"{spec.text} has no trained classification head"
                + (f" (weights missing: {', '.join(head_missing[:4])})" if head_missing else "")
                + "; prediction metrics need a fine-tuned sequence-classification checkpoint"
            )
        self.input_names = accepted_inputs(self.model, self.input_names)

    def _forward(
        self, batch: dict[str, np.ndarray], *, logits: bool, hidden: bool
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        import torch

        tensors = torch_inputs(batch, self.input_names, self.torch_device)
        with torch.inference_mode():
            if not self.has_head:
                state = self.model(**tensors).last_hidden_state
                return None, state.float().cpu().numpy()
            out = self.model(**tensors, output_hidden_states=hidden)
            return (
                out.logits.float().cpu().numpy() if logits else None,
                out.hidden_states[-1].float().cpu().numpy() if hidden else None,
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


def checkpoint_fingerprint(spec: ModelSpec, config: Any) -> str:
    """A transformers checkpoint's content hash: its files when local, else the Hub commit (or,
    without one, its configuration)."""
    local = local_fingerprint(spec)
    if local is not None:
        return local
    commit = getattr(config, "_commit_hash", None) or json.dumps(config.to_dict(), sort_keys=True)
    return f"hub:{spec.source}@{commit}"
