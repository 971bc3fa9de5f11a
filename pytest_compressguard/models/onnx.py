"""ONNX (and quantized ONNX) sequence classifiers, run with onnxruntime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelLoadError
from .base import BatchedClassifier, hash_files, label_names
from .hf import load_tokenizer
from .spec import ModelSpec

_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "spiece.model")


class OnnxClassifier(BatchedClassifier):
    """An ONNX graph whose output ``logits`` (else its first output) has shape (batch, C).

    The tokenizer comes from ``tokenizer`` or from tokenizer files beside the .onnx file;
    class names from a config.json beside it, when there is one.
    """

    def __init__(
        self,
        spec: ModelSpec,
        *,
        batch_size: int = 32,
        max_length: int = 128,
        device: str = "cpu",
        tokenizer: str | None = None,
        path: str | None = None,
    ) -> None:
        import onnxruntime as ort

        self.spec = spec
        self.path = Path(path or spec.source)
        folder = self.path.parent
        if tokenizer is None:
            if not any((folder / name).is_file() for name in _TOKENIZER_FILES):
                raise ModelLoadError(
                    f"{spec.text}: no tokenizer files beside {self.path.name}; "
                    "pass --tokenizer DIR (or a Hub id)"
                )
            tokenizer = str(folder)
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ModelLoadError(
                    "--device cuda was given, but onnxruntime has no CUDA provider "
                    "(install onnxruntime-gpu)"
                )
            providers.insert(0, "CUDAExecutionProvider")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelLoadError(f"cannot load ONNX model {spec.text}: {exc}") from None
        outputs = self.session.get_outputs()
        chosen = next((o for o in outputs if o.name == "logits"), outputs[0])
        if len(chosen.shape) != 2:
            described = ", ".join(f"{o.name} {list(o.shape)}" for o in outputs)
            raise ModelLoadError(
                f"ONNX model {spec.text} has no 'logits' output of shape (batch, classes); "
                f"its outputs are: {described}"
            )
        self.output_name = chosen.name
        self.graph_inputs = {i.name for i in self.session.get_inputs()}
        if "input_ids" not in self.graph_inputs:
            raise ModelLoadError(
                f"ONNX model {spec.text} has no input named input_ids "
                f"(inputs: {', '.join(sorted(self.graph_inputs))})"
            )
        config = self._config(folder)
        super().__init__(
            load_tokenizer(tokenizer, spec=spec), batch_size=batch_size, max_length=max_length
        )
        self.input_names = tuple(n for n in self.graph_inputs)
        self.labels = label_names(config.get("id2label"))
        width = chosen.shape[1]
        if isinstance(width, int):
            self.num_labels = width
        elif self.labels is not None:
            self.num_labels = len(self.labels)
        else:
            probe = self.tokenizer(["a"], return_tensors="np")  # one text: nothing to pad
            self.num_labels = int(self._logits(dict(probe)).shape[1])
        if self.labels is not None and len(self.labels) != self.num_labels:
            raise ModelLoadError(
                f"{spec.text}: config.json names {len(self.labels)} classes but the model "
                f"gives {self.num_labels}"
            )

    def _config(self, folder: Path) -> dict[str, Any]:
        path = folder / "config.json"
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{path} is not valid JSON: {exc}") from None

    def _logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        feed = {}
        for name in self.graph_inputs:
            if name in batch:
                feed[name] = batch[name].astype(np.int64)
            elif name == "token_type_ids":
                feed[name] = np.zeros_like(batch["input_ids"], dtype=np.int64)
            else:
                raise ModelLoadError(
                    f"ONNX model {self.spec.text} needs input {name!r}, which the tokenizer "
                    "does not give"
                )
        return self.session.run([self.output_name], feed)[0]

    def fingerprint(self) -> str:
        """SHA-256 of the .onnx file and any external-data files beside it."""
        return hash_files([self.path, *self.path.parent.glob(self.path.name + ".data")])
