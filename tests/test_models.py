"""Backends: outputs, label alignment, the onnx-int8 cache, and a clear error for each bad model."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import onnx
import pytest
import torch

from pytest_compressguard.core.errors import LabelMismatchError, MissingOutputError, ModelLoadError
from pytest_compressguard.models import align_labels, load_model
from pytest_compressguard.models import compress as compress_module

TEXTS = ["the film was great", "a dull and grim plot", "so very nice", "the cast was awful"] * 5


def each_text_alone(model_dir, texts):
    """Each text's probabilities straight from transformers, one text per call."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    with torch.no_grad():
        rows = [model(**tok([t], return_tensors="pt")).logits.double() for t in texts]
    return torch.softmax(torch.cat(rows), dim=1).numpy()


def test_hf_and_onnx_agree_and_batching_changes_nothing(tiny_models):
    hf = load_model(str(tiny_models.teacher), batch_size=3)
    one_batch = load_model(str(tiny_models.teacher), batch_size=64)
    onnx_model = load_model(str(tiny_models.onnx), batch_size=5)
    p = hf.predict_proba(TEXTS)
    assert p.dtype == np.float64 and p.shape == (len(TEXTS), 2)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(p, one_batch.predict_proba(TEXTS), atol=1e-6)
    np.testing.assert_allclose(p, onnx_model.predict_proba(TEXTS), atol=1e-5)
    np.testing.assert_array_equal(p, hf.predict_proba(TEXTS))  # deterministic
    # batches run in length order: each text must still get its own row, in input order
    np.testing.assert_allclose(p, each_text_alone(tiny_models.teacher, TEXTS), atol=1e-6)
    assert hf.labels == onnx_model.labels == ("negative", "positive")


def test_int8_quantizes_the_linear_layers(tiny_models):
    q = load_model(f"int8:{tiny_models.teacher}")
    kinds = {type(m).__module__ for m in q.model.modules()}
    assert any("quantized" in k for k in kinds)
    p, p_fp32 = q.predict_proba(TEXTS), load_model(str(tiny_models.teacher)).predict_proba(TEXTS)
    assert 0 < np.abs(p - p_fp32).max() < 0.1
    assert q.fingerprint().startswith("int8:")


def test_dynamically_quantized_models_run_one_text_at_a_time(tiny_models, tmp_path):
    # int8 activations are scaled by the range of the whole batch: batched, one text's output
    # would depend on its neighbours; run alone, it is the text's own
    for spec in (f"int8:{tiny_models.teacher}", f"onnx-int8:{tiny_models.teacher}"):
        small = load_model(spec, batch_size=3, cache_dir=tmp_path)
        large = load_model(spec, batch_size=64, cache_dir=tmp_path)
        assert small.per_example and large.per_example
        if spec.startswith("onnx-int8:"):  # calls side by side, whatever the machine's cores
            assert large.workers > 1 or (os.cpu_count() or 1) == 1
            large.workers = 3
        together = large.encode(TEXTS)
        alone = [small.encode([text]) for text in TEXTS]
        np.testing.assert_array_equal(
            together.probabilities, np.vstack([a.probabilities for a in alone])
        )
        np.testing.assert_array_equal(together.embeddings, np.vstack([a.embeddings for a in alone]))
    assert not load_model(str(tiny_models.teacher)).per_example
    assert not load_model(str(tiny_models.onnx)).per_example


def test_onnx_int8_is_cached_and_verified(tiny_models, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = load_model(f"onnx-int8:{tiny_models.teacher}", cache_dir=cache)
    graph = onnx.load(str(first.path))
    assert any(
        node.op_type in ("MatMulInteger", "DynamicQuantizeLinear") for node in graph.graph.node
    )
    p = first.predict_proba(TEXTS)

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(compress_module, "export_onnx", no_export)
    again = load_model(f"onnx-int8:{tiny_models.teacher}", cache_dir=cache)  # a cache hit
    assert again.path == first.path
    np.testing.assert_array_equal(p, again.predict_proba(TEXTS))
    monkeypatch.undo()

    first.path.write_bytes(first.path.read_bytes()[:-10])  # a damaged entry is rebuilt
    rebuilt = load_model(f"onnx-int8:{tiny_models.teacher}", cache_dir=cache)
    manifest = json.loads((rebuilt.path.parent / "manifest.json").read_text())
    from pytest_compressguard.core.fingerprints import hash_files

    assert manifest["sha256"] == hash_files([rebuilt.path])
    np.testing.assert_allclose(p, rebuilt.predict_proba(TEXTS), atol=1e-6)
    onnx_source = load_model(f"onnx-int8:{tiny_models.onnx}", cache_dir=cache)
    assert onnx_source.labels == ("negative", "positive")


def reference_cls(folder, texts, pooling="cls"):
    """[CLS] (or masked mean) of the last hidden state, one text at a time, with transformers."""
    from transformers import AutoTokenizer, BertModel

    tok = AutoTokenizer.from_pretrained(folder)
    encoder = BertModel.from_pretrained(folder).eval()
    rows = []
    with torch.no_grad():
        for text in texts:
            state = encoder(**tok(text, return_tensors="pt")).last_hidden_state[0]
            rows.append((state[0] if pooling == "cls" else state.mean(0)).numpy())
    return np.stack(rows)


def test_embeddings_of_every_backend(tiny_models, tmp_path):
    expected = reference_cls(tiny_models.teacher, TEXTS)
    hf = load_model(str(tiny_models.teacher), batch_size=3)
    both = hf.encode(TEXTS)
    assert both.embeddings.dtype == np.float32 and both.embeddings.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(both.embeddings, expected, atol=1e-5)
    np.testing.assert_array_equal(both.probabilities, hf.predict_proba(TEXTS))  # one pass
    np.testing.assert_array_equal(both.embeddings, hf.embed(TEXTS))
    onnx_model = load_model(str(tiny_models.onnx), batch_size=5)
    np.testing.assert_allclose(onnx_model.embed(TEXTS), expected, atol=1e-4)
    mean = load_model(str(tiny_models.onnx), batch_size=5, pooling="mean")
    np.testing.assert_allclose(
        mean.embed(TEXTS), reference_cls(tiny_models.teacher, TEXTS, "mean"), atol=1e-4
    )
    quantized = load_model(f"int8:{tiny_models.teacher}").embed(TEXTS)
    exported = load_model(f"onnx-int8:{tiny_models.teacher}", cache_dir=tmp_path).embed(TEXTS)
    for approx in (quantized, exported):
        assert approx.shape == expected.shape and 0 < np.abs(approx - expected).max() < 0.5
    missing = load_model(str(tiny_models.onnx), embedding_output="pooled")
    with pytest.raises(MissingOutputError, match=r"has no output 'pooled' \(its outputs are: "):
        missing.embed(TEXTS)
    assert missing.predict_proba(TEXTS).shape == (len(TEXTS), 2)


def test_an_output_the_model_lacks_costs_no_pass(tiny_models, monkeypatch):
    from pytest_compressguard.data.texts import Dataset
    from pytest_compressguard.options import Settings
    from pytest_compressguard.session.state import SessionState

    model = load_model(str(tiny_models.onnx), embedding_output="pooled")
    passes = []
    forward = model._forward
    monkeypatch.setattr(model, "_forward", lambda *a, **kw: passes.append(1) or forward(*a, **kw))
    texts = Dataset("texts.csv", tuple(TEXTS), None, "unused")
    with pytest.raises(MissingOutputError, match=r"has no output 'pooled'"):
        SessionState(Settings(), None).outputs.embeddings(model, texts)
    assert passes == []
    assert model.encode(TEXTS, probabilities=False, embeddings=False).probabilities is None
    assert passes == []


@pytest.mark.filterwarnings("ignore::Warning")
def test_onnx_encoder_without_logits_gives_embeddings_only(tiny_models, tmp_path):
    from transformers import BertModel

    folder = tmp_path / "encoder"
    folder.mkdir()
    encoder = BertModel.from_pretrained(tiny_models.teacher).eval()

    class Hidden(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask):
            return self.encoder(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state

    ids = torch.ones((1, 4), dtype=torch.long)
    torch.onnx.export(
        Hidden().eval(),
        (ids, ids),
        str(folder / "model.onnx"),
        input_names=["input_ids", "attention_mask"],
        output_names=["last_hidden_state"],
        dynamo=False,
        dynamic_axes={"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}},
    )
    for name in ("vocab.txt", "tokenizer_config.json", "tokenizer.json"):
        if (tiny_models.teacher / name).exists():
            shutil.copy(tiny_models.teacher / name, folder / name)
    model = load_model(str(folder / "model.onnx"), batch_size=4)
    assert model.num_labels is None and model.labels is None
    np.testing.assert_allclose(
        model.embed(TEXTS), reference_cls(tiny_models.teacher, TEXTS), atol=1e-4
    )
    with pytest.raises(MissingOutputError, match=r"has no 'logits' output .* last_hidden_state \["):
        model.predict_proba(TEXTS)
    with pytest.raises(ModelLoadError, match=r"has neither a 'logits' output .* nor an embedding"):
        load_model(str(folder / "model.onnx"), embedding_output="pooled")


def test_onnx_without_tokenizer_asks_for_one(tiny_models, tmp_path):
    shutil.copy(tiny_models.onnx / "model.onnx", tmp_path / "model.onnx")
    with pytest.raises(ModelLoadError, match=r"no tokenizer files beside model\.onnx; pass --tok"):
        load_model(str(tmp_path / "model.onnx"))
    model = load_model(str(tmp_path / "model.onnx"), tokenizer=str(tiny_models.teacher))
    assert model.labels is None and model.num_labels == 2  # no config.json: classes unnamed


def test_refuses_pickled_weights(tiny_models, tmp_path):
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_models.teacher, folder)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not unpickled")
    with pytest.raises(ModelLoadError, match=r"does not unpickle pytorch_model\.bin"):
        load_model(str(folder))


def test_model_without_a_trained_head_gives_embeddings_only(tiny_models, tmp_path):
    from transformers import BertModel

    folder = tmp_path / "bare"
    BertModel.from_pretrained(tiny_models.teacher).save_pretrained(folder)
    shutil.copy(tiny_models.teacher / "vocab.txt", folder / "vocab.txt")
    model = load_model(str(folder), batch_size=3)
    assert model.num_labels is None and model.labels is None
    np.testing.assert_allclose(model.embed(TEXTS), reference_cls(folder, TEXTS), atol=1e-5)
    with pytest.raises(MissingOutputError, match=r"has no trained classification head .*classif"):
        model.predict_proba(TEXTS)
    exported = load_model(f"onnx-int8:{folder}", cache_dir=tmp_path / "cache")
    assert exported.num_labels is None and exported.embed(TEXTS).shape == (len(TEXTS), 32)

    config = json.loads((folder / "config.json").read_text())
    config["num_hidden_layers"] += 1  # the checkpoint now lacks a layer of the encoder
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=r"lacks weights of the model itself \(.*layer"):
        load_model(str(folder))


def test_hub_model_offline_is_one_sentence():
    with pytest.raises(ModelLoadError) as info:
        load_model("distilbert")
    message = str(info.value)
    assert message.startswith("cannot load model 'distilbert': it is no local path")
    assert "'distilbert/distilbert-base-uncased'" in message and "pass a local directory" in message
    assert "\n" not in message


def test_label_alignment():
    order = align_labels(("neg", "pos"), 2, ("pos", "neg"), 2, "t vs s")
    assert list(order) == [1, 0]
    assert list(align_labels(None, 3, ("a", "b", "c"), 3, "t vs s")) == [0, 1, 2]
    with pytest.raises(LabelMismatchError, match=r"label sets differ: teacher \['neg', 'pos'\]"):
        align_labels(("neg", "pos"), 2, ("neg", "neutral"), 2, "t vs s")
    with pytest.raises(LabelMismatchError, match="teacher has 2 classes and the student 3"):
        align_labels(None, 2, None, 3, "t vs s")


def test_student_with_permuted_labels_is_aligned_by_name(tiny_models, tmp_path, pytester):
    """A student whose classes are stored in the other order gives the same metrics."""
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "swapped"
    shutil.copytree(tiny_models.teacher, folder)
    weights = load_file(folder / "model.safetensors")
    weights["classifier.weight"] = weights["classifier.weight"].flip(0).contiguous()
    weights["classifier.bias"] = weights["classifier.bias"].flip(0).contiguous()
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {"0": "positive", "1": "negative"}
    config["label2id"] = {"positive": 0, "negative": 1}
    (folder / "config.json").write_text(json.dumps(config))
    out = tmp_path / "out.json"
    pytester.makepyfile("def test_same(guard):\n    guard.assert_label_loyalty(min=1.0)\n")
    result = pytester.runpytest_inprocess(
        f"--teacher={tiny_models.teacher}",
        f"--student={folder}",
        f"--eval-data={tiny_models.dev}",
        f"--compressguard-json={out}",
    )
    result.assert_outcomes(passed=1)
    metrics = json.loads(out.read_text())["comparisons"][0]["metrics"]
    assert metrics["kl_divergence"] < 1e-9 and metrics["error_overlap"] == 1.0


def test_mismatched_label_sets_fail_the_check(tiny_models, tmp_path, pytester):
    folder = tmp_path / "other"
    shutil.copytree(tiny_models.student, folder)
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {"0": "sad", "1": "happy"}
    config["label2id"] = {"sad": 0, "happy": 1}
    (folder / "config.json").write_text(json.dumps(config))
    pytester.makepyfile("def test_same(guard):\n    guard.assert_label_loyalty(min=0.5)\n")
    result = pytester.runpytest_inprocess(
        f"--teacher={tiny_models.teacher}",
        f"--student={folder}",
        f"--eval-data={tiny_models.dev}",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "compressguard: label_loyalty could not be measured: *the models' label sets differ: "
            "teacher [[]'negative', 'positive'[]], student [[]'sad', 'happy'[]]"
        ]
    )
    assert "During handling" not in result.stdout.str()
