"""Hugging Face PyTorch sequence classifiers, from a local directory or the Hub."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelLoadError
from .base import BatchedClassifier, label_names, local_fingerprint
from .spec import ModelSpec


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Hide transformers' per-load progress bars for the duration of a load."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def hub_error(spec: ModelSpec, exc: BaseException) -> ModelLoadError:
    """One sentence for a Hub id that cannot be loaded (offline, unknown, gated)."""
    return ModelLoadError(
        f"cannot load model {spec.text!r}: it is no local path, and the Hugging Face Hub "
        f"model {spec.source!r} could not be fetched (offline, or no such model) nor found in "
        f"the local cache ({type(exc).__name__}); pass a local directory with config.json, "
        "model.safetensors and tokenizer files, or an .onnx file"
    )


def load_tokenizer(source: str, *, spec: ModelSpec) -> Any:
    """A fast tokenizer from a directory or Hub id, with a clear error when it is missing."""
    from transformers import AutoTokenizer

    try:
        with quiet_loading():
            return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        if Path(source).is_dir():
            raise ModelLoadError(
                f"{spec.text}: no usable tokenizer files in {source} ({exc.__class__.__name__}); "
                "pass --tokenizer DIR"
            ) from None
        raise hub_error(ModelSpec(text=source, kind="hub", source=source), exc) from None


def _torch_device(device: str) -> Any:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("--device cuda was given, but PyTorch sees no CUDA device")
    return torch.device(device)


class HFClassifier(BatchedClassifier):
    """A transformers ``AutoModelForSequenceClassification`` loaded from safetensors."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        batch_size: int = 32,
        max_length: int = 128,
        device: str = "cpu",
        tokenizer: str | None = None,
    ) -> None:
        from transformers import AutoModelForSequenceClassification

        self.spec = spec
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
                model, info = AutoModelForSequenceClassification.from_pretrained(
                    source, use_safetensors=True, output_loading_info=True
                )
        except OSError as exc:
            if local:
                raise ModelLoadError(f"cannot load {spec.text}: {exc}") from None
            raise hub_error(spec, exc) from None
        except ValueError as exc:
            raise ModelLoadError(
                f"{spec.text} is not a sequence-classification model: {str(exc).splitlines()[0]}"
            ) from None
        missing = sorted(info.get("missing_keys") or ())
        if missing:
            raise ModelLoadError(
                f"{spec.text} has no trained classification head (weights missing from the "
                f"checkpoint: {', '.join(missing[:4])}); prediction metrics need a fine-tuned "
                "sequence-classification checkpoint"
            )
        self.torch_device = _torch_device(device)
        self.model = model.to(self.torch_device).eval()
        self.config = model.config
        self.labels = label_names(model.config.id2label)
        self.num_labels = int(model.config.num_labels)
        super().__init__(
            load_tokenizer(tokenizer or source, spec=spec),
            batch_size=batch_size,
            max_length=max_length,
        )
        accepted = inspect.signature(self.model.forward).parameters
        self.input_names = tuple(n for n in self.input_names if n in accepted)

    def _logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        tensors = {
            name: torch.from_numpy(batch[name]).to(self.torch_device)
            for name in self.input_names
            if name in batch
        }
        with torch.inference_mode():
            return self.model(**tensors).logits.float().cpu().numpy()

    def fingerprint(self) -> str:
        """SHA-256 of config.json and the weight files; for a Hub model, its commit."""
        local = local_fingerprint(self.spec)
        if local is not None:
            return local
        commit = getattr(self.config, "_commit_hash", None) or json.dumps(
            self.config.to_dict(), sort_keys=True
        )
        return f"hub:{self.spec.source}@{commit}"
