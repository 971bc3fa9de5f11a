"""Question-answering backends on a tiny QA model trained in the test: their answers, null odds
and embeddings equal transformers / onnxruntime run directly, one window at a time, with
run_qa's post-processing (transcribed in test_qa.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from pytest_compressguard.core.errors import ModelLoadError
from pytest_compressguard.core.types import Question
from pytest_compressguard.models.compress import quantize_torch_int8
from pytest_compressguard.models.qa_models import HFQuestionAnswerer, OnnxQuestionAnswerer
from pytest_compressguard.models.spec import parse_spec
from tests import reference, tiny
from tests.test_qa import run_qa_features, run_qa_postprocess

MAX_LENGTH, STRIDE = 24, 8  # short windows: most contexts take several


@pytest.fixture(scope="module")
def qa_model(tmp_path_factory):
    return tiny.train_qa(
        tmp_path_factory.mktemp("qa") / "model", layers=2, hidden=32, steps=80, seed=0
    )


@pytest.fixture(scope="module")
def rows():
    return tiny.qa_examples(40, seed=5, words=(4, 30))


def direct(
    model_dir, rows, *, int8=False, threshold=0.0, n_best=20, max_answer_length=30, stride=STRIDE
):
    """run_qa end to end (its features, one window per call on the window's own tokens, its
    post-processing), and the [CLS] vector of each question's first window."""
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForQuestionAnswering.from_pretrained(model_dir).eval()
    if int8:
        model = reference.torch_int8(model)
    examples = [{"question": q, "context": c} for q, c, _ in rows]
    features = run_qa_features(tok, examples, MAX_LENGTH, stride)
    starts, ends, first = [], [], {}
    with torch.no_grad():
        for f in features:
            n = sum(f["attention_mask"])  # the window's own tokens: an int8 model's activation
            ids = torch.tensor([f["input_ids"][:n]])  # scale would span the padding too
            segments = torch.tensor([f["token_type_ids"][:n]])
            mask = torch.tensor([f["attention_mask"][:n]])
            out = model(
                input_ids=ids,
                token_type_ids=segments,
                attention_mask=mask,
                output_hidden_states=True,
            )
            starts.append(out.start_logits[0].numpy())
            ends.append(out.end_logits[0].numpy())
            first.setdefault(f["example_id"], out.hidden_states[-1][0, 0].numpy())
    texts, odds, nbest = run_qa_postprocess(
        examples,
        features,
        starts,
        ends,
        n_best_size=n_best,
        max_answer_length=max_answer_length,
        null_score_diff_threshold=threshold,
    )
    return texts, odds, nbest, np.array([first[i] for i in range(len(rows))])


def check(model, rows, want, *, atol, threshold=0.0, n_best=20):
    texts, odds, nbest, cls = want
    questions = [Question(q, c) for q, c, _ in rows]
    got = model.answer(questions, null_threshold=threshold, n_best=n_best)
    assert [a.text for a in got.answers] == [texts[i] for i in range(len(rows))]
    assert [a.null_odds for a in got.answers] == pytest.approx(
        [odds[i] for i in range(len(rows))], abs=atol
    )
    for i, a in enumerate(got.answers):
        assert [t for t, _ in a.candidates] == [t for t, _ in nbest[i]]
    np.testing.assert_allclose(got.embeddings, cls, atol=atol)
    return got


def test_hf_answers_equal_run_qa_over_windows(qa_model, rows):
    model = HFQuestionAnswerer(
        parse_spec(str(qa_model)), max_length=MAX_LENGTH, doc_stride=STRIDE, batch_size=7
    )
    got = check(model, rows, direct(qa_model, rows), atol=1e-5)
    # a threshold at the median null odds: half the questions answered, half abstained
    middle = float(np.median([a.null_odds for a in got.answers]))
    got = check(model, rows, direct(qa_model, rows, threshold=middle), atol=1e-5, threshold=middle)
    assert {a.text == "" for a in got.answers} == {True, False}
    # few n-best places, windows padded in batches of 7: the padding must not compete
    want = direct(qa_model, rows, threshold=middle, n_best=2)
    check(model, rows, want, atol=1e-5, threshold=middle, n_best=2)
    assert "probabilities" in model.missing and model.num_labels is None


def test_int8_answers_one_window_at_a_time(qa_model, rows):
    base = HFQuestionAnswerer(parse_spec(str(qa_model)), max_length=MAX_LENGTH, doc_stride=STRIDE)
    model = quantize_torch_int8(base)
    assert model.per_example
    check(model, rows, direct(qa_model, rows, int8=True), atol=1e-5)


def export(qa_model, target, outputs=("start_logits", "end_logits", "last_hidden_state")):
    model = AutoModelForQuestionAnswering.from_pretrained(qa_model).eval()

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, token_type_ids, attention_mask):
            out = self.model(
                input_ids=input_ids,
                token_type_ids=token_type_ids,
                attention_mask=attention_mask,
                output_hidden_states=True,
            )
            found = {
                "start_logits": out.start_logits,
                "end_logits": out.end_logits,
                "last_hidden_state": out.hidden_states[-1],
            }
            return tuple(found[name] for name in outputs)

    tok = AutoTokenizer.from_pretrained(qa_model)
    batch = tok(["what"], ["the film was good"], return_tensors="pt")
    names = ["input_ids", "token_type_ids", "attention_mask"]
    axes = {n: {0: "batch", 1: "sequence"} for n in [*names, *outputs]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Wrapper().eval(),
            tuple(batch[n] for n in names),
            str(target),
            input_names=names,
            output_names=list(outputs),
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    tok.save_pretrained(target.parent)
    return target


def test_onnx_answers_equal_run_qa(qa_model, rows, tmp_path):
    path = export(qa_model, tmp_path / "model.onnx")
    model = OnnxQuestionAnswerer(parse_spec(str(path)), max_length=MAX_LENGTH, doc_stride=STRIDE)
    check(model, rows, direct(qa_model, rows), atol=1e-4)


def test_a_graph_without_span_logits_is_refused(qa_model, tmp_path):
    path = export(qa_model, tmp_path / "model.onnx", outputs=("start_logits", "last_hidden_state"))
    with pytest.raises(
        ModelLoadError,
        match="is no question-answering graph with an embedding: it lacks end_logits",
    ):
        OnnxQuestionAnswerer(parse_spec(str(path)))


def test_a_classifier_checkpoint_is_no_qa_model(tiny_models):
    with pytest.raises(ModelLoadError, match="is no trained question-answering checkpoint"):
        HFQuestionAnswerer(parse_spec(str(tiny_models.teacher)))


class PadsScoreHighest(HFQuestionAnswerer):
    """The tiny model with its logits replaced: a fixed function of each real token, and 100 on
    every padded position, so padding would win every n-best place it may compete for."""

    def _spans(self, batch):
        start, end, hidden = super()._spans(batch)
        pad = batch["attention_mask"] == 0
        ids = batch["input_ids"].astype(np.float64)
        start = np.where(pad, 100.0, np.sin(ids * 1.3))
        end = np.where(pad, 100.0, np.cos(ids * 0.7))
        return start, end, hidden


def test_padding_never_competes_for_answers(qa_model, rows):
    from pytest_compressguard.models.qa import answers, windows

    model = PadsScoreHighest(
        parse_spec(str(qa_model)), max_length=MAX_LENGTH, doc_stride=STRIDE, batch_size=16
    )
    questions = [Question(q, c) for q, c, _ in rows]
    got = model.answer(questions, n_best=3)
    found = windows(model.tokenizer, questions, max_length=MAX_LENGTH, doc_stride=STRIDE)
    ids = [np.array(x, dtype=np.float64) for x in found.features["input_ids"]]
    want = answers(
        questions, found, [np.sin(x * 1.3) for x in ids], [np.cos(x * 0.7) for x in ids], n_best=3
    )
    assert got.answers == want
    assert any(len(x) < MAX_LENGTH for x in ids)  # some windows were padded in their batch


def test_the_task_is_read_from_the_files(qa_model, tiny_models, tmp_path):
    from pytest_compressguard.tasks import detect_task

    graph = export(qa_model, tmp_path / "model.onnx")
    assert detect_task(str(qa_model)) == "qa"
    assert detect_task(str(graph)) == "qa"
    assert detect_task(f"int8:{qa_model}") == detect_task(f"onnx-int8:{graph}") == "qa"
    assert detect_task(str(tiny_models.teacher)) == "classification"
    assert detect_task(str(tiny_models.onnx)) == "classification"
    assert detect_task(f"onnx-int8:{tiny_models.teacher}") == "classification"


def test_onnx_int8_of_a_qa_model_answers_like_its_graph_run_directly(qa_model, rows, tmp_path):
    import onnxruntime as ort

    from pytest_compressguard.models import load_model
    from pytest_compressguard.models.qa_models import load_qa_model

    model = load_qa_model(
        f"onnx-int8:{qa_model}", cache_dir=tmp_path, max_length=MAX_LENGTH, doc_stride=STRIDE
    )
    assert isinstance(model, OnnxQuestionAnswerer) and model.per_example
    assert {"start_logits", "end_logits", "last_hidden_state"} <= {
        o.name for o in model.session.get_outputs()
    }
    # its own cache entry: the checkpoint built as a classifier (head-less) is another one
    encoder = load_model(f"onnx-int8:{qa_model}", cache_dir=tmp_path)
    assert encoder.path != model.path
    session = ort.InferenceSession(str(model.path), providers=["CPUExecutionProvider"])
    tok = AutoTokenizer.from_pretrained(model.path.parent)
    examples = [{"question": q, "context": c} for q, c, _ in rows]
    features = run_qa_features(tok, examples, MAX_LENGTH, STRIDE)
    starts, ends = [], []
    for f in features:  # one window per call, on its own tokens
        n = sum(f["attention_mask"])
        feed = {
            k: np.array([f[k][:n]], dtype=np.int64)
            for k in ("input_ids", "token_type_ids", "attention_mask")
        }
        start, end = session.run(["start_logits", "end_logits"], feed)
        starts.append(start[0])
        ends.append(end[0])
    texts, odds, _ = run_qa_postprocess(examples, features, starts, ends)
    got = model.answer([Question(q, c) for q, c, _ in rows])
    assert [a.text for a in got.answers] == [texts[i] for i in range(len(rows))]
    assert [a.null_odds for a in got.answers] == pytest.approx(
        [odds[i] for i in range(len(rows))], abs=1e-5
    )
    again = load_qa_model(
        f"onnx-int8:{qa_model}", cache_dir=tmp_path, max_length=MAX_LENGTH, doc_stride=STRIDE
    )
    assert again.path == model.path  # built once, then read from the cache


def test_bad_qa_model_inputs_are_clear_errors(qa_model, tmp_path):
    from pytest_compressguard.models.qa_models import load_qa_model
    from pytest_compressguard.tasks import detect_task

    with pytest.raises(ValueError, match="doc stride 32 must be below the max length 32"):
        load_qa_model(str(qa_model), max_length=32, doc_stride=32)
    with pytest.raises(ValueError, match="onnx-int8: needs a cache directory"):
        load_qa_model(f"onnx-int8:{qa_model}")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model.safetensors").write_bytes(b"")
    (tmp_path / "broken" / "config.json").write_text("{")
    with pytest.raises(ModelLoadError, match=r"no readable config\.json"):
        detect_task(str(tmp_path / "broken"))
    (tmp_path / "broken.onnx").write_bytes(b"not a graph")
    with pytest.raises(ModelLoadError, match="cannot read ONNX model"):
        detect_task(str(tmp_path / "broken.onnx"))
