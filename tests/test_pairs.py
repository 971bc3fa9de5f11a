"""Sentence pairs end to end: each backend encodes a pair as its tokenizer does, every metric
of a pair gate equals an independent computation, the attack changes one side only, and bad
pair inputs are clear errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from pytest_compressguard.attacks.search import AttackSettings, Parts, attack
from pytest_compressguard.core.errors import DataError, ModelLoadError
from pytest_compressguard.data.texts import load_dataset
from pytest_compressguard.models import load_model
from tests import reference, tiny
from tests.test_plugin import expected_metrics


def direct(model_dir, pairs, *, int8=False, max_length=128):
    """Probabilities and [CLS] embeddings from transformers itself, one pair per call, the
    pair encoded by the tokenizer."""
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    if int8:
        model = reference.torch_int8(model)
    probs, cls = [], []
    with torch.no_grad():
        for a, b in pairs:
            batch = tok(a, b, truncation=True, max_length=max_length, return_tensors="pt")
            out = model(**batch, output_hidden_states=True)
            probs.append(torch.softmax(out.logits.double(), -1)[0].numpy())
            cls.append(out.hidden_states[-1][0, 0].numpy())
    return np.array(probs), np.array(cls)


def onnx_direct(folder, pairs):
    tok = AutoTokenizer.from_pretrained(folder)
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    out = []
    for a, b in pairs:
        batch = tok(a, b, truncation=True, max_length=128, return_tensors="np")
        logits = session.run(["logits"], {k: v for k, v in batch.items() if k in names})[0]
        z = logits[0].astype(np.float64)
        out.append(np.exp(z - z.max()) / np.exp(z - z.max()).sum())
    return np.array(out)


def pairs_of(rows):
    return [(a, b) for a, b, _ in rows]


# -- the backends --------------------------------------------------------------------------


def test_each_backend_encodes_a_pair_as_its_tokenizer_does(pair_models):
    pairs = pairs_of(pair_models.dev_rows[:25])
    p, cls = direct(pair_models.teacher, pairs)
    hf = load_model(str(pair_models.teacher)).encode(pairs)
    np.testing.assert_allclose(hf.probabilities, p, atol=1e-6)
    np.testing.assert_allclose(hf.embeddings, cls, atol=1e-5)
    onnx = load_model(str(pair_models.onnx))
    assert "token_type_ids" in onnx.graph_inputs  # the export keeps the segment ids
    np.testing.assert_allclose(
        onnx.predict_proba(pairs), onnx_direct(pair_models.onnx, pairs), atol=1e-6
    )
    np.testing.assert_allclose(onnx.predict_proba(pairs), p, atol=1e-5)
    q8, _ = direct(pair_models.teacher, pairs, int8=True)
    np.testing.assert_allclose(
        load_model(f"int8:{pair_models.teacher}").predict_proba(pairs), q8, atol=1e-6
    )
    # the segment ids matter: the same two texts as one text give other outputs
    joined = load_model(str(pair_models.teacher)).predict_proba([f"{a} {b}" for a, b in pairs])
    assert np.abs(joined - p).max() > 1e-3


def test_a_pair_too_long_is_truncated_longest_side_first(pair_models):
    long_first = ("the movie was really quite very good and the plot is fine " * 2, "a bad")
    pairs = [long_first, ("good", "the film is " * 6 + "bad")]
    model = load_model(str(pair_models.teacher), max_length=12)
    p, _ = direct(pair_models.teacher, pairs, max_length=12)
    np.testing.assert_allclose(model.predict_proba(pairs), p, atol=1e-6)
    firsts, seconds = zip(*pairs, strict=True)
    ids = model.tokenizer(firsts, seconds, truncation="longest_first", max_length=12)["input_ids"]
    assert all(len(row) == 12 for row in ids) and all(row.count(3) == 2 for row in ids)  # 2 [SEP]


def test_an_onnx_graph_without_segment_ids_refuses_pairs(pair_models, tmp_path):
    from pytest_compressguard.models.compress import export_onnx
    from pytest_compressguard.models.hf import HFClassifier
    from pytest_compressguard.models.spec import parse_spec

    model = HFClassifier(parse_spec(str(pair_models.teacher)))
    model.input_names = ("input_ids", "attention_mask")  # an export that dropped them
    export_onnx(model, tmp_path / "model.onnx")
    model.tokenizer.save_pretrained(tmp_path)
    onnx = load_model(str(tmp_path / "model.onnx"))
    onnx.predict_proba(["a good film"])  # single texts: nothing to tell apart
    with pytest.raises(ModelLoadError, match="takes no token_type_ids input"):
        onnx.predict_proba(pairs_of(pair_models.dev_rows[:3]))


def test_a_batch_cannot_mix_texts_and_pairs(pair_models):
    with pytest.raises(ValueError, match="mixes single texts and text pairs"):
        load_model(str(pair_models.teacher)).predict_proba(["a text", ("a", "pair")])


def test_a_tokenizer_that_cannot_take_pairs_is_one_sentence(pair_models):
    model = load_model(str(pair_models.teacher))
    single = model.tokenizer

    def texts_only(texts, pairs=None, **options):
        if pairs is not None:
            raise TypeError("this tokenizer takes one text")
        return single(texts, **options)

    model.tokenizer = texts_only
    with pytest.raises(ModelLoadError, match=r"its tokenizer cannot encode text pairs .*one text"):
        model.predict_proba(pairs_of(pair_models.dev_rows[:2]))


# -- data ----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".txt", ".jsonl", ".json"])
def test_pairs_read_from_every_format(tmp_path, suffix):
    rows = tiny.pair_examples(12, seed=3)
    path = tiny.write_pairs(tmp_path / f"pairs{suffix}", rows, columns=("sentence_A", "sentence_B"))
    data = load_dataset(str(path), text_column="sentence_A", pair_column="sentence_B")
    assert data.texts == tuple(pairs_of(rows))
    assert data.labels == tuple(tiny.PAIR_LABELS[y] for _, _, y in rows)
    # NLI label names match the teacher's whatever their case; indices otherwise
    upper = type(data)(data.spec, data.texts, tuple(x.upper() for x in data.labels), "")
    assert upper.label_indices(("contradiction", "entailment"), 2).tolist() == [y for *_, y in rows]


def test_pair_data_errors_name_the_column(tmp_path):
    path = tiny.write_pairs(tmp_path / "pairs.csv", tiny.pair_examples(5, seed=1))
    with pytest.raises(DataError, match=r"no column 'sentence2'.*--text-pair-column"):
        load_dataset(str(path), text_column="premise", pair_column="sentence2")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"premise": "a", "hypothesis": "b"}))
    with pytest.raises(DataError, match="expected a JSON list of objects"):
        load_dataset(str(broken), text_column="premise", pair_column="hypothesis")
    lines = tmp_path / "holes.jsonl"
    lines.write_text(
        '{"premise": "a", "hypothesis": "b", "label": "entailment"}\n'
        '{"premise": "c", "label": "entailment"}\n'
    )
    with pytest.raises(DataError, match="example 1 has no 'hypothesis'"):
        load_dataset(str(lines), text_column="premise", pair_column="hypothesis")


def test_pairs_and_texts_have_different_fingerprints(tmp_path):
    path = tiny.write_pairs(tmp_path / "pairs.csv", [("a good", "film", 1)])
    pairs = load_dataset(str(path), text_column="premise", pair_column="hypothesis")
    texts = load_dataset(str(path), text_column="premise")
    assert pairs.texts_fingerprint != texts.texts_fingerprint


# -- the attack on one side ------------------------------------------------------------------


class Words:
    """A substitute source for rule targets: every word may become 'bad' or 'good'."""

    mask_token = "[MASK]"

    def substitutes(self, text, spans, k):
        return [["bad", "good"] for _ in spans]


def majority(pairs):
    """The pair task's rule: the majority polarity of the sentiment words of both texts."""
    out = []
    for a, b in pairs:
        ws = f"{a} {b}".split()
        positive = sum(w in tiny.POSITIVE for w in ws)
        negative = sum(w in tiny.NEGATIVE for w in ws)
        out.append([0.9, 0.1] if negative > positive else [0.1, 0.9])
    return np.array(out)


@pytest.mark.parametrize("side", ["first", "second"])
def test_the_attack_changes_one_side_of_a_pair_only(side):
    rows = [("the good plot", "the film was good and fine", 1), ("a bad film", "so bad", 0)]
    seen = []

    def target(batch):
        seen.extend(batch)
        return majority(batch)

    chosen = [a if side == "first" else b for a, b, _ in rows]
    others = [b if side == "first" else a for a, b, _ in rows]
    settings = AttackSettings(recipe="bert-attack", side=side, max_perturb=1.0, min_similarity=0)
    results = attack(
        target, Parts(Words()), chosen, [y for *_, y in rows], settings, contexts=others
    )
    assert all(isinstance(x, tuple) for x in seen)  # the target always sees whole pairs
    untouched = 1 if side == "first" else 0
    assert {x[untouched] for x in seen} == set(others)
    for e, (a, b, _) in zip(results, rows, strict=True):
        assert e.context == (b if side == "first" else a) and e.side == side
        assert e.whole(e.original) == (a, b)
        adversarial = e.whole(e.adversarial)
        assert adversarial[untouched] == (a, b)[untouched]
        if e.success:
            assert majority([adversarial])[0].argmax() != e.label


# -- the plugin ----------------------------------------------------------------------------

GATE = """
def test_loyal(guard):
    guard.assert_label_loyalty(min=0.0)

def test_neighbours(guard):
    guard.assert_knn_agreement(min=0.0, k=5)
    guard.assert_ood_agreement(min=0.0)
"""


def brute_knn(vectors, k):
    v = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = v @ v.T
    np.fill_diagonal(sims, -np.inf)
    return [set(np.argsort(-row, kind="stable")[:k]) for row in sims]


def test_a_pair_gate_equals_an_independent_computation(pytester, pair_models, tmp_path):
    out = tmp_path / "report.json"
    pytester.makepyfile(test_gate=GATE)
    result = pytester.runpytest_inprocess(
        f"--teacher={pair_models.teacher}",
        f"--student={pair_models.student}",
        f"--student={pair_models.onnx}",
        f"--student=int8:{pair_models.teacher}",
        f"--eval-data={pair_models.dev}",
        f"--train-data={pair_models.train}",  # Deep-KNN: a bank of pairs, candidate pairs
        f"--ood-data={pair_models.ood}",
        "--ood-k=5",
        "--text-column=premise",
        "--text-pair-column=hypothesis",
        f"--compressguard-json={out}",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=6)
    pairs = pairs_of(pair_models.dev_rows)
    y = np.array([label for *_, label in pair_models.dev_rows])
    pt, t_cls = direct(pair_models.teacher, pairs)
    bank = [(r["premise"], r["hypothesis"]) for r in csv.DictReader(pair_models.train.open())]
    candidates = [(r["premise"], r["hypothesis"]) for r in csv.DictReader(pair_models.ood.open())]
    students = {
        str(pair_models.student): direct(pair_models.student, pairs),
        str(pair_models.onnx): (onnx_direct(pair_models.onnx, pairs), None),
        f"int8:{pair_models.teacher}": direct(pair_models.teacher, pairs, int8=True),
    }
    comparisons = json.loads(out.read_text())["comparisons"]
    assert [c["student"] for c in comparisons] == list(students)
    for c in comparisons:
        ps, s_cls = students[c["student"]]
        assert c["n"] == len(pairs)
        for name, value in expected_metrics(pt, ps, y).items():
            assert c["metrics"][name] == pytest.approx(value, abs=1e-6), (c["student"], name)
        if s_cls is None:
            continue
        # Deep-KNN on pair embeddings: the bank and the candidates are pairs too
        roles = {"eval": pairs, "bank": bank, "ood": candidates}
        int8 = c["student"].startswith("int8:")
        model = pair_models.teacher if int8 else pair_models.student
        teacher = {role: direct(pair_models.teacher, p)[1] for role, p in roles.items()}
        student = {role: direct(model, p, int8=int8)[1] for role, p in roles.items()}
        for name, value in reference.ood_metrics(teacher, student, 5).items():
            assert c["metrics"][name] == pytest.approx(value, abs=1e-6), (c["student"], name)
        if s_cls is not None:  # kNN agreement of the pair embeddings, by brute force
            want = np.mean(
                [
                    len(a & b) / len(a | b)
                    for a, b in zip(brute_knn(t_cls, 5), brute_knn(s_cls, 5), strict=True)
                ]
            )
            assert c["metrics"]["knn_sweep"]["5"] == pytest.approx(want, abs=1e-6)


def test_a_missing_pair_column_fails_the_tests_with_one_sentence(pytester, pair_models):
    pytester.makepyfile(test_gate=GATE)
    result = pytester.runpytest_inprocess(
        f"--teacher={pair_models.teacher}",
        f"--student={pair_models.student}",
        f"--eval-data={pair_models.dev}",
        "--text-column=premise",
        "--text-pair-column=sentence2",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(errors=2)  # in the setup of each test: the data is read there
    result.stdout.fnmatch_lines(
        ["*has no column 'sentence2' (columns: premise, hypothesis, label)*"]
    )
    assert "Traceback" not in result.stdout.str()


def test_a_pair_attack_records_both_texts_and_keeps_the_other_side(
    pytester, pair_models, tiny_models, tmp_path
):
    out = tmp_path / "report.json"
    pytester.makepyfile(
        test_gate="def test_attack(guard):\n    guard.assert_attack_drop(max=1.0)\n"
    )
    result = pytester.runpytest_inprocess(
        f"--teacher={pair_models.teacher}",
        f"--student={pair_models.student}",
        f"--eval-data={pair_models.dev}",
        "--text-column=premise",
        "--text-pair-column=hypothesis",
        f"--attack-mlm={tiny_models.mlm}",  # the same vocabulary
        f"--attack-sentence-encoder={tiny_models.mlm}",
        "--attack-recipe=bert-attack",
        "--attack-side=first",
        "--attack-examples=30",
        f"--compressguard-json={out}",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=1)
    record = json.loads(out.read_text())["comparisons"][0]
    assert record["attack"]["side"] == "first"
    found = record["adversarial_examples"]
    assert found and any(e["success"] for e in found)
    rows = pair_models.dev_rows
    for e in found:
        original = list(rows[e["index"]][:2])
        assert e["original"] == original
        assert e["adversarial"][1] == original[1]  # the second text is never touched
        assert (e["adversarial"][0] != original[0]) == (e["words_changed"] > 0)
