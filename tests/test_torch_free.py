"""An ONNX model is loaded and measured without importing torch (checked in a fresh
interpreter), and the tokenizer it is loaded with is the one AutoTokenizer gives.

:func:`run_torch_free` is the reusable part: it runs a snippet in a fresh interpreter and
fails when the snippet imported torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["a good film", "the worst day", "a pair of texts"]


def run_torch_free(code: str, *, timeout: float = 180) -> str:
    """Run ``code`` with this interpreter and this environment in a fresh process (from the
    repository root); assert that it succeeds and that ``"torch"`` is not in ``sys.modules``
    when it ends. Returns what it printed."""
    check = textwrap.dedent(
        """
        import sys as _sys

        if "torch" in _sys.modules:
            _sys.exit("torch was imported")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code) + check],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_an_onnx_student_is_loaded_and_measured_without_torch(tiny_models):
    out = run_torch_free(
        f"""
        import json

        from pytest_compressguard.engine import efficiency
        from pytest_compressguard.models import load_model

        model = load_model({str(tiny_models.onnx)!r})
        model.predict_proba({TEXTS!r})
        size = efficiency.footprint(model)
        latency = efficiency.measure_latency(model, {TEXTS!r}, 2)
        print(json.dumps([vars(size), latency.to_json()]))
        """
    )
    size, latency = json.loads(out.splitlines()[-1])
    assert size["measured_from"] == "files" and size["parameters"] > 0
    assert latency["runtime"] == "onnxruntime" and latency["batch"] == 2


def test_the_helper_sees_torch_imported():
    with pytest.raises(AssertionError, match="torch was imported"):
        run_torch_free("import torch")


# -- the tokenizer loaded without torch is AutoTokenizer's ------------------------------------

needs_5 = pytest.mark.skipif(
    int(metadata.version("transformers").split(".")[0]) < 5,
    reason="transformers 4 loads tokenizers through AutoTokenizer only",
)


@needs_5
def test_the_classes_loaded_directly_are_those_transformers_registers():
    from transformers.models.auto.tokenization_auto import TOKENIZER_MAPPING_NAMES

    from pytest_compressguard.models import tokenizer as direct

    for model_type, name in direct.AUTO_CLASSES.items():
        assert TOKENIZER_MAPPING_NAMES[model_type] == name, model_type


@needs_5
def test_a_folder_tokenizer_loaded_directly_equals_autotokenizer(tiny_models, tmp_path):
    from transformers import AutoTokenizer

    from pytest_compressguard.models import tokenizer as direct

    bare = tmp_path / "bare"  # tokenizer files without a config.json
    AutoTokenizer.from_pretrained(tiny_models.onnx).save_pretrained(bare)
    assert not (bare / "config.json").exists()
    for folder in (tiny_models.onnx, tiny_models.teacher, bare):
        want = AutoTokenizer.from_pretrained(folder)
        got = direct.direct_tokenizer(str(folder))
        assert type(got) is type(want), folder
        assert got.model_input_names == want.model_input_names
        assert got.padding_side == want.padding_side
        assert got.all_special_tokens == want.all_special_tokens
        for texts in (["a good film", "the worst day ever"], [("a pair", "of texts")]):
            firsts = [t[0] if isinstance(t, tuple) else t for t in texts]
            seconds = [t[1] for t in texts if isinstance(t, tuple)] or None
            a = got(firsts, seconds, truncation=True, max_length=8, return_offsets_mapping=True)
            b = want(firsts, seconds, truncation=True, max_length=8, return_offsets_mapping=True)
            assert dict(a) == dict(b)


def test_autotokenizer_loads_what_cannot_be_told_without_transformers(tiny_models, tmp_path):
    from pytest_compressguard.models import tokenizer as direct

    def folder(name, config=None, **tokenizer_config):
        target = tmp_path / name
        target.mkdir()
        for f in ("tokenizer.json", "tokenizer_config.json"):
            (target / f).write_bytes((tiny_models.onnx / f).read_bytes())
        declared = json.loads((target / "tokenizer_config.json").read_text())
        (target / "tokenizer_config.json").write_text(json.dumps({**declared, **tokenizer_config}))
        if config is not None:
            (target / "config.json").write_text(json.dumps(config))
        return target

    assert direct.declared_class(folder("plain", {"model_type": "bert"})) == "BertTokenizer"
    assert direct.declared_class(folder("fast", tokenizer_class="BertTokenizerFast")) == (
        "BertTokenizer"
    )
    assert direct.declared_class(folder("other_type", {"model_type": "gpt2"})) is None
    remote = folder("remote", auto_map={"AutoTokenizer": ["x.T", None]})
    assert direct.declared_class(remote) is None
    assert direct.declared_class(folder("unlisted", tokenizer_class="LlamaTokenizer")) is None
    assert direct.declared_class(folder("no_class", tokenizer_class=None)) is None
    assert direct.direct_tokenizer(str(tmp_path / "missing")) is None
