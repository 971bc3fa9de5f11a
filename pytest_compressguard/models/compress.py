"""Students compressed on the fly: ``int8:SPEC`` and ``onnx-int8:SPEC``.

- ``int8:`` applies PyTorch dynamic int8 quantization to every ``nn.Linear`` layer.
- ``onnx-int8:`` exports a PyTorch model to ONNX (or takes an ONNX model as it is) and applies
  onnxruntime dynamic int8 quantization. The result is cached on disk, keyed by the source
  model's content fingerprint and the library versions; each entry records the SHA-256 of its
  model.onnx and is rebuilt when that no longer matches.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from pytest_compressguard.core.cache import key, locked
from pytest_compressguard.core.errors import ModelLoadError
from pytest_compressguard.core.fingerprints import hash_files
from pytest_compressguard.models.base import local_fingerprint
from pytest_compressguard.models.onnx import OnnxClassifier
from pytest_compressguard.models.spec import ModelSpec


class TorchBackend(Protocol):
    """What compressing a PyTorch backend reads and replaces: a transformers classifier
    (:class:`~pytest_compressguard.models.hf.HFClassifier`) or question answerer
    (:class:`~pytest_compressguard.models.qa_models.HFQuestionAnswerer`)."""

    spec: ModelSpec
    model: Any
    torch_device: Any
    tokenizer: Any
    input_names: tuple[str, ...]
    per_example: bool

    def fingerprint(self) -> str: ...


_Torch = TypeVar("_Torch", bound=TorchBackend)

#: The sentences used to check that an export computes what the PyTorch model computes.
_PROBES = (
    "a short sentence",
    "a somewhat longer sentence that needs more tokens than the first one does",
)
#: Question and context pairs, the same check for question-answering models.
_QA_PROBES = (
    ("what is it", "a short context"),
    ("which one", "a somewhat longer context that needs more tokens than the first one does"),
)
_EXPORT_TOLERANCE = 1e-3
_FORMAT = 3  # 2: exports carry last_hidden_state; 3: keyed by cache.key


@contextmanager
def _root_logging_quiet() -> Iterator[None]:
    """onnxruntime's quantizer logs advice on the root logger; hide it during the call."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_torch_int8(model: _Torch) -> _Torch:
    """Replace the model's Linear layers by dynamically quantized int8 ones (CPU only)."""
    import torch

    if model.torch_device.type != "cpu":
        raise ModelLoadError(
            f"{model.spec.text}: PyTorch dynamic int8 quantization runs on the CPU only; "
            "use --device cpu or onnx-int8:"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        model.model = torch.ao.quantization.quantize_dynamic(
            model.model, {torch.nn.Linear}, dtype=torch.qint8
        )
    model.per_example = True  # activations are quantized per call: see BatchedModel
    base_fingerprint = model.fingerprint

    def fingerprint() -> str:
        return "int8:" + base_fingerprint()

    model.fingerprint = fingerprint  # type: ignore[method-assign]
    return model


def _export_wrapper(model: _Torch, names: list[str], outputs: list[str]) -> Any:
    """The model as a module of positional tensors giving the named outputs (``logits``,
    ``start_logits``, ``end_logits`` of its head; ``last_hidden_state``)."""
    import torch

    inner = model.model
    headless = outputs == ["last_hidden_state"]

    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = inner

        def forward(self, *tensors):
            inputs = dict(zip(names, tensors, strict=True))
            if headless:  # a bare encoder
                return self.model(**inputs).last_hidden_state
            out = self.model(**inputs, output_hidden_states=True)
            return tuple(
                out.hidden_states[-1] if name == "last_hidden_state" else getattr(out, name)
                for name in outputs
            )

    return Wrapper().eval()


def export_onnx(model: _Torch, target: Path, *, answerer: bool = False) -> None:
    """Export a PyTorch model to ONNX with outputs ``logits`` (a classifier with a head),
    ``start_logits`` and ``end_logits`` (a question answerer, ``answerer=True``) and
    ``last_hidden_state``, dynamic batch and sequence axes, and check that the export
    reproduces the PyTorch outputs on two probe sentences (or question/context pairs)."""
    import torch

    qa = answerer
    names = list(model.input_names)
    if qa:
        outputs = ["start_logits", "end_logits", "last_hidden_state"]
        questions, contexts = zip(*_QA_PROBES, strict=True)
        batch = model.tokenizer(list(questions), list(contexts), padding=True, return_tensors="pt")
    else:
        head: bool = model.has_head  # type: ignore[attr-defined]
        outputs = ["logits", "last_hidden_state"] if head else ["last_hidden_state"]
        batch = model.tokenizer(list(_PROBES), padding=True, return_tensors="pt")
    tensors = tuple(batch[name] for name in names)
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes["logits"] = {0: "batch"}
    axes["start_logits"] = axes["end_logits"] = {0: "batch", 1: "sequence"}
    axes["last_hidden_state"] = {0: "batch", 1: "sequence"}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _export_wrapper(model, names, outputs),
            tensors,
            str(target),
            input_names=names,
            output_names=outputs,
            dynamic_axes={k: v for k, v in axes.items() if k in names or k in outputs},
            opset_version=17,
            dynamo=False,
        )
    import onnxruntime as ort

    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    feed = {i.name: batch[i.name].numpy() for i in session.get_inputs()}
    exported = session.run(outputs, feed)
    arrays = {k: v.numpy() for k, v in batch.items()}
    if qa:
        expected = list(model._spans(arrays))  # type: ignore[attr-defined]
    else:
        logits, hidden = model._forward(arrays, logits=head, hidden=True)  # type: ignore[attr-defined]
        expected = [logits, hidden] if head else [hidden]
    for name, got, want in zip(outputs, exported, expected, strict=True):
        gap = float(np.max(np.abs(got - want)))
        if gap > _EXPORT_TOLERANCE * max(1.0, float(np.max(np.abs(want)))):
            raise ModelLoadError(
                f"the ONNX export of {model.spec.text} differs from the PyTorch model "
                f"(max {name} gap {gap:.2g})"
            )


def export_causal_lm(model: Any, target: Path) -> None:
    """Export a PyTorch causal LM to ONNX: ``input_ids`` and ``attention_mask`` in, ``logits``
    and ``last_hidden_state`` out, no key-value cache, dynamic batch and sequence axes; check
    that the export reproduces the PyTorch logits on two probe sentences, padded."""
    import torch

    inner = model.model

    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = inner

        def forward(self, input_ids, attention_mask):  # noqa: ANN001
            out = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                use_cache=False,
                output_hidden_states=True,
            )
            return out.logits, out.hidden_states[-1]

    ids = model.token_ids(list(_PROBES))
    tokens, mask = model._padded(ids)
    names, outputs = ["input_ids", "attention_mask"], ["logits", "last_hidden_state"]
    axes = {name: {0: "batch", 1: "sequence"} for name in names + outputs}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Wrapper().eval(),
            (tokens, mask),
            str(target),
            input_names=names,
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    from pytest_compressguard.models.onnx_lm import OnnxCausalLM

    model.tokenizer.save_pretrained(target.parent)  # the graph's tokenizer, beside it
    exported = OnnxCausalLM(model.spec, path=str(target), tokenizer=str(target.parent))
    for got, want in zip(exported.logits(ids), model.logits(ids), strict=True):
        gap = float(np.max(np.abs(got - want)))
        if gap > _EXPORT_TOLERANCE * max(1.0, float(np.max(np.abs(want)))):
            raise ModelLoadError(
                f"the ONNX export of {model.spec.text} differs from the PyTorch model "
                f"(max logits gap {gap:.2g})"
            )


def _cache_key(source_fingerprint: str, answerer: bool | str = False) -> str:
    """The entry of a source's int8 graph; a question answerer's build and a causal LM's
    have their own (a classifier's keys are those of format 3)."""
    from importlib.metadata import version

    # read from the installed metadata: a cache hit imports neither torch nor onnxruntime
    versions = [version("torch"), version("transformers"), version("onnxruntime")]
    parts: dict[str, Any] = {"source": source_fingerprint, "versions": versions}
    if answerer:
        parts["head"] = answerer if isinstance(answerer, str) else "answerer"
    return key(_FORMAT, parts)[:24]


def _valid_entry(entry: Path) -> bool:
    manifest = entry / "manifest.json"
    model = entry / "model.onnx"
    if not (manifest.is_file() and model.is_file()):
        return False
    try:
        recorded = json.loads(manifest.read_text())["sha256"]
    except (OSError, ValueError, KeyError):
        return False
    return recorded == hash_files([model])


def onnx_int8(
    inner: ModelSpec,
    load_source: Callable[[], Any],
    cache_dir: Path,
    *,
    build: Callable[..., Any] = OnnxClassifier,
    answerer: bool = False,
    causal_lm: bool = False,
    **options: Any,
) -> Any:
    """The dynamic-int8 ONNX form of a model, built once and cached under ``cache_dir``, and
    loaded with ``build`` (an ONNX classifier, a question answerer with ``answerer``, a
    causal LM with ``causal_lm``).

    A local source is fingerprinted from its files, so a cache hit loads no PyTorch model.
    """
    source = None
    fingerprint = local_fingerprint(inner)
    if fingerprint is None:
        source = load_source()
        fingerprint = source.fingerprint()
    head: bool | str = "next-token" if causal_lm else answerer
    entry = cache_dir / "onnx-int8" / _cache_key(fingerprint, head)
    with locked(cache_dir, f"onnx-int8-{entry.name}"):  # xdist workers build it once
        if not _valid_entry(entry):
            _build(entry, inner, source or load_source(), head)
    target = ModelSpec(
        text=f"onnx-int8:{inner.text}", kind="onnx-int8", source=inner.source, inner=inner
    )
    options["tokenizer"] = str(entry)
    if inner.kind != "onnx":  # our own export names its hidden-state output
        options["embedding_output"] = "last_hidden_state"
    return build(target, path=str(entry / "model.onnx"), **options)


def _build(entry: Path, inner: ModelSpec, source: Any, head: bool | str) -> None:
    """Quantize ``source`` into the cache entry ``entry`` (built aside, renamed into place)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    entry.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=entry.parent))
    try:
        if not hasattr(source, "session"):  # a PyTorch model: export it first
            fp32 = work / "fp32.onnx"
            if head == "next-token":
                export_causal_lm(source, fp32)
            else:
                export_onnx(source, fp32, answerer=bool(head))
            (work / "config.json").write_text(source.config.to_json_string())
        else:
            fp32 = source.path
            config = source.path.parent / "config.json"
            if config.is_file():
                shutil.copy(config, work / "config.json")
        source.tokenizer.save_pretrained(work)
        with warnings.catch_warnings(), _root_logging_quiet():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(fp32), str(work / "model.onnx"), weight_type=QuantType.QInt8)
        (work / "fp32.onnx").unlink(missing_ok=True)
        (work / "manifest.json").write_text(
            json.dumps({"source": inner.text, "sha256": hash_files([work / "model.onnx"])})
        )
        if entry.exists():
            shutil.rmtree(entry)
        work.rename(entry)
    except OSError as exc:
        raise ModelLoadError(f"cannot build onnx-int8:{inner.text} in {entry}: {exc}") from None
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
