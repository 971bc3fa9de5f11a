"""Model spec parsing: every kind of spec, and a clear sentence for each bad one."""

from __future__ import annotations

import pytest

from pytest_compressguard.core.errors import ModelSpecError
from pytest_compressguard.models.spec import ALIASES, parse_spec


def test_local_kinds(tiny_models):
    assert parse_spec(str(tiny_models.teacher)).kind == "hf"
    onnx_dir = parse_spec(str(tiny_models.onnx))
    assert (onnx_dir.kind, onnx_dir.source) == ("onnx", str(tiny_models.onnx / "model.onnx"))
    assert parse_spec(str(tiny_models.onnx / "model.onnx")).kind == "onnx"


def test_prefixes_wrap_any_spec(tiny_models):
    spec = parse_spec(f"int8:{tiny_models.teacher}")
    assert spec.kind == "int8" and spec.inner.kind == "hf"
    assert spec.name == "int8:teacher"
    assert parse_spec(f"onnx-int8:{tiny_models.onnx}").inner.kind == "onnx"
    assert parse_spec("onnx-int8:bert-tiny").inner.source == ALIASES["bert-tiny"]


def test_aliases_and_hub_ids():
    assert parse_spec("bert-large").source == "google-bert/bert-large-uncased"
    assert parse_spec("distilbert").name == "distilbert"
    assert parse_spec("someone/some-model").kind == "hub"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty model spec"),
        ("fp16:bert-base", "unknown prefix 'fp16:'"),
        ("./no/such/model", "neither an existing path nor a Hugging Face Hub id"),
        ("missing.onnx", "neither an existing path"),
        ("int8:int8:bert-base", "compresses twice"),
        ("what is this?", "neither an existing path"),
    ],
)
def test_bad_specs(spec, message):
    with pytest.raises(ModelSpecError, match=message):
        parse_spec(spec)


def test_bad_local_paths(tmp_path, tiny_models):
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ModelSpecError, match=r"neither an \.onnx nor a \.gguf file"):
        parse_spec(str(tmp_path / "weights.bin"))
    with pytest.raises(ModelSpecError, match="holds neither"):
        parse_spec(str(tmp_path))
    with pytest.raises(ModelSpecError, match="use onnx-int8:"):
        parse_spec(f"int8:{tiny_models.onnx}")
