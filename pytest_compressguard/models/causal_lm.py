"""Causal language models in PyTorch: a safetensors directory or Hub id, a ``.gguf`` file
(dequantized to float32 by transformers' ``gguf_file=`` loading; needs the ``gguf`` extra),
and ``int8:`` of either (dynamic int8 of every ``nn.Linear``, one text per call).

The model gives what the causal-LM task scores: token ids of texts (its tokenizer's default
special tokens, truncated to ``max_length``), the logits at every position of a batch of
them, the mean of the last hidden state over a text's tokens, and greedy continuations.
Batches keep the input order and pad on the right, so a teacher and a student given the same
ids see the same batches.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pytest_compressguard.core.errors import ModelLoadError
from pytest_compressguard.core.types import Footprint
from pytest_compressguard.models.base import local_fingerprint
from pytest_compressguard.models.hf import checkpoint_fingerprint, load_checkpoint, torch_device
from pytest_compressguard.models.lm_base import NO_PROBABILITIES, LanguageModel, padded
from pytest_compressguard.models.spec import ModelSpec
from pytest_compressguard.models.tokenizer import load_tokenizer, quiet_loading
from pytest_compressguard.models.torch_weights import torch_footprint, torch_runtime

#: Texts per forward pass (a batch's logits are texts x tokens x vocabulary floats).
LM_BATCH_SIZE = 4
#: Tokens per text at most when ``--max-length`` is not given.
LM_MAX_LENGTH = 256
#: The packages a ``.gguf`` file needs, and the extra that installs them.
GGUF_PACKAGES = ("gguf", "accelerate")


def _gguf_model(spec: ModelSpec) -> tuple[Any, Any]:
    """The model and tokenizer of a ``.gguf`` file, dequantized (one sentence without the
    extra or for an unreadable file)."""
    absent = [p for p in GGUF_PACKAGES if importlib.util.find_spec(p) is None]
    if absent:
        raise ModelLoadError(
            f"{spec.text} is a GGUF file, which needs the {' and '.join(absent)} "
            f"package{'s' if len(absent) > 1 else ''}: pip install 'pytest-compressguard[gguf]'"
        )
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(spec.source)
    try:
        with quiet_loading():
            tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
            model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(f"cannot load the GGUF file {spec.text}: {first}") from None
    return model, tokenizer


class CausalLM(LanguageModel):
    """A causal LM and its tokenizer (see the module docstring)."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        batch_size: int = LM_BATCH_SIZE,
        max_length: int = LM_MAX_LENGTH,
        device: str = "cpu",
        tokenizer: str | None = None,
    ) -> None:
        from transformers import AutoModelForCausalLM

        self.spec = spec
        self.weights = spec  # what the weights came from (int8: replaces spec)
        if spec.kind == "gguf":
            model, own_tokenizer = _gguf_model(spec)
        else:
            model, info = load_checkpoint(spec, AutoModelForCausalLM)
            missing = sorted(info.get("missing_keys") or ())
            if missing:
                raise ModelLoadError(
                    f"{spec.text}: the checkpoint lacks weights of the model itself "
                    f"({', '.join(missing[:4])}); it does not match its config.json"
                )
            own_tokenizer = None
        self.per_example = False  # int8: sets it (see load_causal_lm)
        self.torch_device = torch_device(device)
        self.model = model.to(self.torch_device).eval()
        self.config = model.config
        if tokenizer is not None:
            self.tokenizer = load_tokenizer(tokenizer, spec=spec)
        elif own_tokenizer is not None:
            self.tokenizer = own_tokenizer
        else:
            self.tokenizer = load_tokenizer(spec.source, spec=spec)
        self.batch_size = batch_size
        self.max_length = max_length
        self.missing: dict[str, str] = {"probabilities": NO_PROBABILITIES.format(spec=spec.text)}

    @property
    def vocabulary(self) -> int:
        """The number of logits per position."""
        weight = self.model.get_output_embeddings().weight
        return int((weight() if callable(weight) else weight).shape[0])  # int8: a method

    def _padded(self, ids: Sequence[np.ndarray]) -> tuple[Any, Any]:
        """A batch of id arrays padded on the right, with its attention mask, as tensors."""
        import torch

        batch, mask = padded(ids)
        device = self.torch_device
        return torch.from_numpy(batch).to(device), torch.from_numpy(mask).to(device)

    def logits(self, ids: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each text's (n, V) float32 logits at its n tokens, for one batch of texts."""
        import torch

        if not ids or any(len(x) == 0 for x in ids):
            raise ValueError("every text needs at least one token")
        tokens, mask = self._padded(ids)
        with torch.inference_mode():
            out = self.model(input_ids=tokens, attention_mask=mask).logits.float().cpu().numpy()
        return [out[row, : len(x)] for row, x in enumerate(ids)]

    def hidden_means(self, ids: Sequence[np.ndarray]) -> np.ndarray:
        """(N, H) float32: the mean of the last hidden state over each text's tokens."""
        import torch

        out = []
        for batch in self.batches(ids):
            chunk = [ids[i] for i in batch]
            tokens, mask = self._padded(chunk)
            with torch.inference_mode():
                states = self.model(
                    input_ids=tokens, attention_mask=mask, output_hidden_states=True
                ).hidden_states[-1]
            weights = mask.unsqueeze(-1).to(states.dtype)
            out.append(((states * weights).sum(1) / weights.sum(1)).float().cpu().numpy())
        return np.concatenate(out)

    def greedy(self, prompts: np.ndarray, tokens: int) -> np.ndarray:
        """(B, tokens): the ids greedy decoding appends to each row of the (B, P) ``prompts``
        (exactly that many: an end-of-text token does not stop it); prompts of one length
        need no padding, so a batch decodes as each prompt alone would."""
        import torch

        prompts = np.atleast_2d(np.asarray(prompts, dtype=np.int64))
        out = []
        for batch in self.batches(list(prompts)):
            ids = torch.from_numpy(prompts[batch.start : batch.stop]).to(self.torch_device)
            with torch.inference_mode():
                found = self.model.generate(
                    input_ids=ids,
                    attention_mask=torch.ones_like(ids),
                    do_sample=False,
                    max_new_tokens=tokens,
                    min_new_tokens=tokens,
                    pad_token_id=self.tokenizer.pad_token_id or 0,
                )
            out.append(found[:, prompts.shape[1] :].cpu().numpy())
        return np.concatenate(out)

    def fingerprint(self) -> str:
        """SHA-256 of the weight files (a ``.gguf`` file, or config.json and safetensors);
        for a Hub model, its commit."""
        weights = self.weights
        return local_fingerprint(weights) or checkpoint_fingerprint(weights, self.config)

    def footprint(self) -> Footprint:
        """Its weight files (a ``.gguf`` file, safetensors), or (``int8:``, a Hub model) its
        weight tensors in memory."""
        found = torch_footprint(self.model, self.weights.source)
        if self.spec.kind == "gguf":  # not int8: of one, whose weights are in memory
            return Footprint(Path(self.spec.source).stat().st_size, found.parameters, "files")
        return found

    def runtime(self) -> tuple[str, int]:
        """``("torch", threads)``."""
        return torch_runtime()


def load_causal_lm(
    spec: ModelSpec,
    *,
    batch_size: int = LM_BATCH_SIZE,
    max_length: int = LM_MAX_LENGTH,
    device: str = "cpu",
    tokenizer: str | None = None,
    cache_dir: Path | None = None,
) -> Any:
    """The causal LM a spec names: a directory, Hub id, ``.gguf`` or ``.onnx`` file, ``int8:``
    of a PyTorch one, or ``onnx-int8:`` of any (built once under ``cache_dir``)."""
    from pytest_compressguard.models.compress import onnx_int8, quantize_torch_int8
    from pytest_compressguard.models.onnx_lm import OnnxCausalLM

    options = {"batch_size": batch_size, "max_length": max_length, "device": device}
    inner = spec.inner
    if spec.kind == "int8" and inner is not None and inner.kind != "onnx":
        model = quantize_torch_int8(CausalLM(inner, tokenizer=tokenizer, **options))
        model.spec = spec
        return model
    if spec.kind == "onnx-int8" and inner is not None and cache_dir is not None:
        if inner.kind == "onnx":
            source: Any = lambda: OnnxCausalLM(inner, tokenizer=tokenizer, **options)  # noqa: E731
        else:
            source = lambda: CausalLM(inner, tokenizer=tokenizer, **options)  # noqa: E731
        return onnx_int8(inner, source, cache_dir, build=OnnxCausalLM, causal_lm=True, **options)
    if spec.kind == "onnx":
        return OnnxCausalLM(spec, tokenizer=tokenizer, **options)
    if inner is not None or spec.kind not in ("hf", "hub", "gguf"):
        raise ModelLoadError(
            f"{spec.text}: a causal language model is a Hugging Face directory or Hub id, a "
            ".gguf or .onnx file, int8: of a PyTorch one, or onnx-int8: of any"
        )
    return CausalLM(spec, tokenizer=tokenizer, **options)
