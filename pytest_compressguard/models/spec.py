"""Model spec strings -> ModelSpec, without importing any heavy library.

Grammar::

    SPEC      := PREFIX? BASE
    PREFIX    := "int8:" | "onnx-int8:"
    BASE      := local HF directory | .onnx file | directory with model.onnx
               | Hugging Face Hub id | alias (bert-large, distilbert, ...)
    SPEC      := "snapshot:" PATH   (a file written by --compressguard-snapshot-update)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from pytest_compressguard.core.errors import ModelSpecError

#: Short names for the models of Rai et al. (Turc et al. 2019 compact BERTs included).
ALIASES: dict[str, str] = {
    "bert-large": "google-bert/bert-large-uncased",
    "bert-base": "google-bert/bert-base-uncased",
    "distilbert": "distilbert/distilbert-base-uncased",
    "bert-medium": "google/bert_uncased_L-8_H-512_A-8",
    "bert-mini": "google/bert_uncased_L-4_H-256_A-4",
    "bert-tiny": "google/bert_uncased_L-2_H-128_A-2",
}

PREFIXES = ("int8", "onnx-int8")
SNAPSHOT = "snapshot"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec.

    ``kind`` is one of ``hf`` (local directory), ``onnx`` (file), ``hub``, ``snapshot``
    (a snapshot file), ``int8`` or ``onnx-int8`` (then ``inner`` is the spec being
    compressed).
    """

    text: str
    kind: str
    source: str = ""
    inner: ModelSpec | None = None

    @property
    def name(self) -> str:
        """A short name for test ids and tables: the basename of a path, the alias of a hub id."""
        if self.inner is not None:
            return f"{self.kind}:{self.inner.name}"
        if self.kind == "snapshot":
            return f"snapshot:{Path(self.source).name}"
        if self.kind == "hub":
            return self.text
        return Path(self.text.rstrip("/\\")).name or self.text


def _looks_like_path(text: str) -> bool:
    return (
        text.startswith((".", "/", "~"))
        or text.endswith(".onnx")
        or text.count("/") > 1
        or (os.sep != "/" and os.sep in text)
    )


def parse_spec(text: str) -> ModelSpec:
    """Parse a model spec string; raise ModelSpecError with one sentence when it names nothing."""
    text = text.strip()
    if not text:
        raise ModelSpecError("empty model spec: pass a local directory, an .onnx file or a Hub id")
    head, sep, rest = text.partition(":")
    if sep and head == SNAPSHOT and not Path(text).exists():
        if not Path(rest).expanduser().is_file():
            raise ModelSpecError(
                f"no snapshot file {rest!r} (snapshot:PATH names a file written by "
                "--compressguard-snapshot-update)"
            )
        return ModelSpec(text=text, kind=SNAPSHOT, source=str(Path(rest).expanduser()))
    if sep and not Path(text).exists():
        if head not in PREFIXES:
            raise ModelSpecError(
                f"unknown prefix {head + ':'!r} in model spec {text!r}; known prefixes: "
                + ", ".join(p + ":" for p in (*PREFIXES, SNAPSHOT))
            )
        inner = parse_spec(rest)
        if inner.inner is not None:
            raise ModelSpecError(f"model spec {text!r} compresses twice; use one prefix")
        if inner.kind == SNAPSHOT:
            raise ModelSpecError(
                f"model spec {text!r} compresses a snapshot, which holds outputs, not weights"
            )
        if head == "int8" and inner.kind == "onnx":
            raise ModelSpecError(
                f"int8: quantizes a PyTorch model, but {rest!r} is ONNX; use onnx-int8:{rest}"
            )
        return ModelSpec(text=text, kind=head, source=inner.source, inner=inner)

    path = Path(text).expanduser()
    if path.is_file():
        if path.suffix not in (".onnx", ".gguf"):
            raise ModelSpecError(
                f"model spec {text!r} is a file but neither an .onnx nor a .gguf file; pass a "
                "Hugging Face model directory, an .onnx file or a .gguf file"
            )
        return ModelSpec(text=text, kind=path.suffix[1:], source=str(path))
    if path.is_dir():
        has_weights = any(path.glob("*.safetensors")) or any(path.glob("pytorch_model*.bin"))
        if (path / "config.json").is_file() and has_weights:
            return ModelSpec(text=text, kind="hf", source=str(path))
        if (path / "model.onnx").is_file():
            return ModelSpec(text=text, kind="onnx", source=str(path / "model.onnx"))
        raise ModelSpecError(
            f"directory {text!r} holds neither a Hugging Face model (config.json and weights) "
            "nor a model.onnx"
        )
    if text in ALIASES:
        return ModelSpec(text=text, kind="hub", source=ALIASES[text])
    if _looks_like_path(text) or not _HUB_ID.match(text):
        raise ModelSpecError(
            f"model spec {text!r} is neither an existing path nor a Hugging Face Hub id "
            f"(aliases: {', '.join(ALIASES)})"
        )
    return ModelSpec(text=text, kind="hub", source=text)
