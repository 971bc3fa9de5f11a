"""Causal LMs as ONNX graphs run with onnxruntime: ``input_ids`` and ``attention_mask`` in,
``logits`` out (no key-value cache: teacher-forced scoring needs none), and the mean of a
``last_hidden_state`` output as a text's embedding when the graph has one. Greedy
continuations are arg-max steps of full forward passes. A graph with dynamically quantized
activations (``onnx-int8:``) runs one text per call, as ``int8:`` does."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pytest_compressguard.core.errors import ModelLoadError
from pytest_compressguard.core.fingerprints import hash_files
from pytest_compressguard.core.types import Footprint
from pytest_compressguard.models.footprint import onnx_footprint, onnx_runtime
from pytest_compressguard.models.lm_base import NO_PROBABILITIES, LanguageModel, padded
from pytest_compressguard.models.onnx import open_session, quantizes_activations, tokenizer_beside
from pytest_compressguard.models.spec import ModelSpec
from pytest_compressguard.models.tokenizer import load_tokenizer


class OnnxCausalLM(LanguageModel):
    """A causal LM's ONNX graph and its tokenizer (see the module docstring)."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        batch_size: int = 4,
        max_length: int = 256,
        device: str = "cpu",
        tokenizer: str | None = None,
        embedding_output: str = "last_hidden_state",
        path: str | None = None,
    ) -> None:
        self.spec = spec
        source = Path(path or spec.source)
        self.path = source / "model.onnx" if source.is_dir() else source
        self.session = open_session(spec, self.path, device)
        inputs = {i.name for i in self.session.get_inputs()}
        outputs = {o.name: o for o in self.session.get_outputs()}
        if not {"input_ids", "attention_mask"} >= inputs - {"position_ids"} or (
            "logits" not in outputs
        ):
            raise ModelLoadError(
                f"{spec.text}: an ONNX causal LM takes input_ids and attention_mask and gives "
                f"logits; this graph takes {', '.join(sorted(inputs))} and gives "
                f"{', '.join(outputs)} (export it without a key-value cache)"
            )
        self.inputs = inputs
        self.hidden = embedding_output if embedding_output in outputs else None
        self.tokenizer = load_tokenizer(tokenizer_beside(spec, self.path, tokenizer), spec=spec)
        self.per_example = quantizes_activations(self.path)
        self.batch_size = batch_size
        self.max_length = max_length
        self.missing: dict[str, str] = {"probabilities": NO_PROBABILITIES.format(spec=spec.text)}
        if self.hidden is None:
            self.missing["embeddings"] = (
                f"{spec.text}: the graph has no {embedding_output!r} output to embed texts with"
            )
        width = outputs["logits"].shape[-1]
        self._vocabulary = width if isinstance(width, int) else None

    @property
    def vocabulary(self) -> int:
        """The number of logits per position (a probe pass when the graph does not say)."""
        if self._vocabulary is None:
            self._vocabulary = int(self.logits([np.array([0, 0])])[0].shape[-1])
        return self._vocabulary

    def _run(self, ids: Sequence[np.ndarray], hidden: bool = False) -> list[np.ndarray]:
        batch, mask = padded(ids)
        feed = {"input_ids": batch, "attention_mask": mask}
        if "position_ids" in self.inputs:
            feed["position_ids"] = np.maximum(np.cumsum(mask, axis=1) - 1, 0)
        names = ["logits"] + ([self.hidden] if hidden and self.hidden else [])
        return [*self.session.run(names, feed), mask]  # type: ignore[no-any-return]

    def logits(self, ids: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each text's (n, V) float32 logits at its n tokens, for one batch of texts."""
        if not ids or any(len(x) == 0 for x in ids):
            raise ValueError("every text needs at least one token")
        out = self._run(ids)[0]
        return [out[row, : len(x)].astype(np.float32) for row, x in enumerate(ids)]

    def hidden_means(self, ids: Sequence[np.ndarray]) -> np.ndarray:
        """(N, H) float32: the mean of the hidden-state output over each text's tokens."""
        if self.hidden is None:
            raise ModelLoadError(self.missing["embeddings"])
        out = []
        for batch in self.batches(ids):
            _, states, mask = self._run([ids[i] for i in batch], hidden=True)
            weights = mask[..., None].astype(np.float64)
            out.append(((states * weights).sum(1) / weights.sum(1)).astype(np.float32))
        return np.concatenate(out)

    def greedy(self, prompts: np.ndarray, tokens: int) -> np.ndarray:
        """(B, tokens): each prompt's arg-max continuation, one full forward pass per token
        (ties: the lowest id)."""
        prompts = np.atleast_2d(np.asarray(prompts, dtype=np.int64))
        out = []
        for batch in self.batches(list(prompts)):
            ids = prompts[batch.start : batch.stop]
            for _ in range(tokens):
                last = self._run(list(ids))[0][:, -1]
                ids = np.concatenate([ids, last.argmax(axis=1)[:, None]], axis=1)
            out.append(ids[:, prompts.shape[1] :])
        return np.concatenate(out)

    def fingerprint(self) -> str:
        """SHA-256 of the .onnx file and any external-data files beside it."""
        return hash_files([self.path, *self.path.parent.glob(self.path.name + ".data")])

    def footprint(self) -> Footprint:
        """The .onnx file and its external data; the graph's initializers."""
        return onnx_footprint(self.path)

    def runtime(self) -> tuple[str, int]:
        """``("onnxruntime", threads)``."""
        return onnx_runtime(self.session)
