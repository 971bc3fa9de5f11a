"""BERT-Attack: the algorithm on rule targets, the metrics, and the plugin end to end."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from pytest_compressguard.attacks.mlm import MaskedLM
from pytest_compressguard.attacks.search import (
    AttackSettings,
    Parts,
    attack,
    attack_example,
    render,
    words,
)
from pytest_compressguard.attacks.stopwords import STOPWORDS
from pytest_compressguard.core.errors import ModelLoadError
from pytest_compressguard.metrics import robustness as r
from tests import tiny


@pytest.fixture(scope="module")
def masked_lm(tiny_models):
    return MaskedLM(str(tiny_models.mlm))


@pytest.fixture(scope="module")
def mlm(masked_lm):
    """BERT-Attack's parts: the masked LM's substitutes, no sentence encoder."""
    return Parts(source=masked_lm, mask_token=masked_lm.mask_token)


def plain(**kwargs):
    """BERT-Attack without the sentence-similarity constraint (no encoder in these tests)."""
    return AttackSettings(recipe="bert-attack", min_similarity=0.0, **kwargs)


class Counting:
    """A rule target: class probabilities from a function of the text's words; counts texts."""

    def __init__(self, rule):
        self.rule = rule
        self.texts = 0
        self.calls = 0

    def __call__(self, texts):
        self.texts += len(texts)
        self.calls += 1
        return np.array([self.rule(t.split()) for t in texts], dtype=np.float64)


def hinges_on_good(ws):
    return [0.1, 0.9] if "good" in ws else [0.9, 0.1]


def never_flips(original):
    """Positive always; the probability falls with each original word that is replaced."""
    keep = set(original.split())
    return lambda ws: [
        0.49 - 0.01 * sum(w in keep for w in ws),
        0.51 + 0.01 * sum(w in keep for w in ws),
    ]


# -- words ---------------------------------------------------------------------------------


def test_words_strip_punctuation_and_skip_tokens_without_letters():
    text = 'It\'s "great" -- a film , really!'
    spans = words(text)
    assert [text[a:b] for a, b in spans] == ["It's", "great", "a", "film", "really"]
    assert render(text, spans, {1: "bad", 4: "barely"}) == 'It\'s "bad" -- a film , barely!'
    assert render(text, spans, {}) == text


# -- the algorithm on rule targets ------------------------------------------------------------


def test_the_one_word_the_target_hinges_on_is_swapped_and_the_success_is_real(mlm):
    target = Counting(hinges_on_good)
    text = "the movie was really good and the plot"
    result = attack_example(target, mlm, text, 1, plain())
    assert result.status == "success" and result.before == 1 and result.after == 0
    assert result.words_changed == 1 and result.changes[0][0] == "good"
    new = result.changes[0][1]
    assert result.adversarial == text.replace("good", new)
    assert target([result.adversarial]).argmax() == 0  # re-run: the prediction really changed
    assert new.isalpha() and new not in STOPWORDS


def test_examples_the_target_gets_wrong_are_skipped(mlm):
    target = Counting(hinges_on_good)
    result = attack_example(target, mlm, "the movie was good", 0, plain())
    assert (result.status, result.before, result.after, result.queries) == ("skipped", 1, 1, 1)
    assert result.adversarial == result.original


def test_at_most_forty_percent_of_the_words_change(mlm):
    rng = random.Random(3)
    for text, _ in tiny.examples(30, seed=5):
        text = text + " " + " ".join(rng.choice(tiny.FILLER) for _ in range(rng.randint(0, 4)))
        target = Counting(never_flips(text))
        result = attack_example(target, mlm, text, 1, plain())
        n = len(words(text))
        assert result.status == "failed"
        assert result.words_changed <= math.floor(0.4 * n)
        assert result.words_changed / n <= 0.4
        changed = [
            a for a, b in zip(text.split(), result.adversarial.split(), strict=True) if a != b
        ]
        assert len(changed) == result.words_changed
        assert not set(changed) & STOPWORDS
        # a failed attack scored every text it made: the reported count is exact
        assert result.queries == target.texts


def test_the_perturbation_budget_binds_and_can_be_changed(mlm):
    text = "the movie was really good and the plot was dull but the music was fine"
    n = len(words(text))
    for share in (0.4, 0.2, 1.0):
        result = attack_example(Counting(never_flips(text)), mlm, text, 1, plain(max_perturb=share))
        attackable = sum(w.isalpha() and w not in STOPWORDS for w in text.split())
        assert result.words_changed == min(math.floor(share * n), attackable)


def test_the_query_budget_holds(mlm):
    text = "the movie was really good and the plot was dull but the music was fine"
    unlimited = attack_example(Counting(never_flips(text)), mlm, text, 1, plain())
    for budget in (1, 5, len(words(text)) + 1, len(words(text)) + 7, 60):
        target = Counting(never_flips(text))
        result = attack_example(target, mlm, text, 1, plain(max_queries=budget))
        assert result.queries <= max(budget, len(words(text)) + 1)  # importance pass is whole
        assert target.texts == result.queries
        if budget < unlimited.queries:
            assert result.words_changed <= unlimited.words_changed
    assert unlimited.queries > 60


def test_attacks_in_lockstep_equal_attacks_one_at_a_time(mlm, monkeypatch):
    import pytest_compressguard.attacks.search as bert_attack

    rows = tiny.examples(40, seed=7) + [("the plot was dull and the music was dull", 0)] * 2
    texts, labels = [t for t, _ in rows], [y for _, y in rows]

    def rule(ws):  # a "dull" text needs two changes to flip: the attack on it fails
        return hinges_on_good(ws) if "dull" not in ws else [0.9, 0.1]

    alone = Counting(rule)
    expected = [attack_example(alone, mlm, t, y, plain(), index=i) for i, (t, y) in enumerate(rows)]
    monkeypatch.setattr(bert_attack, "_WINDOW", 6)  # fewer than the texts: the window refills
    together = Counting(rule)
    done = []
    results = attack(
        together, mlm, texts, labels, plain(), progress=lambda n, s: done.append((n, s))
    )
    assert results == expected
    assert {e.status for e in results} == {"success", "failed", "skipped"}
    assert together.texts == alone.texts  # the same texts scored, in fewer calls
    assert together.calls < alone.calls / 3
    assert done[-1] == (len(rows), sum(e.success for e in results))
    assert [n for n, _ in done] == list(range(1, len(rows) + 1))


def test_two_runs_give_identical_results(mlm):
    rows = tiny.examples(25, seed=11)
    texts, labels = [t for t, _ in rows], [y for _, y in rows]
    runs = [attack(Counting(hinges_on_good), mlm, texts, labels, plain()) for _ in "ab"]
    assert runs[0] == runs[1]
    assert any(e.success for e in runs[0]) and any(e.status == "skipped" for e in runs[0])


def test_progress_reports_each_example(mlm):
    seen = []
    rows = tiny.examples(4, seed=1)
    attack(
        Counting(hinges_on_good),
        mlm,
        [t for t, _ in rows],
        [y for _, y in rows],
        plain(),
        progress=lambda done, hits: seen.append(done),
    )
    assert seen == [1, 2, 3, 4]


def test_substitutes_come_from_the_masked_lm_at_the_unmasked_position(masked_lm):
    text = "the movie was really good"
    got = masked_lm.substitutes(text, words(text), 5)
    tok, model = masked_lm.tokenizer, masked_lm.model
    enc = tok(text, return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits[0]
    for i, span in enumerate(words(text)):
        position = 1 + i  # one token per word in this vocabulary, after [CLS]
        assert text[span[0] : span[1]] == tok.convert_ids_to_tokens(int(enc.input_ids[0, position]))
        assert got[i] == tok.convert_ids_to_tokens(logits[position].topk(5).indices.tolist())


def perplexity(mlm, ids):
    """exp(mean NLL) of a word's pieces, scored alone between [CLS] and [SEP]."""
    tok = mlm.tokenizer
    row = torch.tensor([[tok.cls_token_id, *ids, tok.sep_token_id]])
    with torch.no_grad():
        logp = torch.log_softmax(mlm.model(input_ids=row).logits[0], -1)
    return float(np.exp(-np.mean([logp[1 + j, t].item() for j, t in enumerate(ids)])))


def test_words_of_several_pieces_get_combinations_ranked_by_perplexity(masked_lm):
    mlm = masked_lm
    import itertools

    tok = mlm.tokenizer
    text = "the movie was goodly"
    spans = words(text)
    assert tok.tokenize("goodly") == ["good", "##ly"]
    got = mlm.substitutes(text, spans, 48)[3]
    enc = tok(text, return_tensors="pt")
    with torch.no_grad():
        logits = mlm.model(**enc).logits[0]
    tops = [logits[p].topk(4).indices.tolist() for p in (4, 5)]  # [CLS] the movie was good ##ly
    found = []
    for ids in itertools.product(*tops):
        pieces = tok.convert_ids_to_tokens(list(ids))
        if not pieces[0].startswith("##") and pieces[1].startswith("##"):
            found.append((perplexity(mlm, list(ids)), pieces[0] + pieces[1][2:]))
    assert got == [w for _, w in sorted(found)]
    # the ranking itself, on chosen combinations: words whose pieces do not join are dropped
    ids = tok.convert_tokens_to_ids
    combos = [
        (0, [ids("good"), ids("##ly")]),
        (0, [ids("bad"), ids("##ly")]),
        (0, [ids("good"), ids("##s")]),
        (0, [ids("##s"), ids("##ly")]),
        (1, [ids("movie"), ids("film")]),
    ]
    expected = sorted(
        (perplexity(mlm, c), tok.convert_tokens_to_string(tok.convert_ids_to_tokens(c)))
        for _, c in combos[:3]
    )
    assert mlm._rank_combinations(combos, 48) == {0: [w for _, w in expected]}
    assert mlm._rank_combinations(combos, 2) == {0: [w for _, w in expected[:2]]}


# -- metrics ---------------------------------------------------------------------------------


def test_robustness_metrics_equal_a_direct_count():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(5, 40))
        labels = rng.integers(0, 3, n)
        before = np.where(rng.random(n) < 0.8, labels, (labels + 1) % 3)
        success = (before == labels) & (rng.random(n) < 0.5)
        after = np.where(success, (labels + 2) % 3, before)
        if not (before == labels).any():
            continue
        acc_b = sum(int(b == y) for b, y in zip(before, labels, strict=True)) / n
        acc_a = sum(int(a == y) for a, y in zip(after, labels, strict=True)) / n
        assert r.attack_accuracy(labels, before) == pytest.approx(acc_b)
        assert r.attack_accuracy(labels, after) == pytest.approx(acc_a)
        assert r.attack_drop(acc_b, acc_a) == pytest.approx((acc_b - acc_a) / acc_b)
        attacked = [i for i in range(n) if before[i] == labels[i]]
        assert r.success_rate(labels, before, success) == pytest.approx(
            sum(success[i] for i in attacked) / len(attacked)
        )
        student_before = np.where(rng.random(n) < 0.8, labels, (labels + 1) % 3)
        on_adv = np.where(rng.random(n) < 0.4, (labels + 1) % 3, labels)
        usable = [i for i in range(n) if success[i] and student_before[i] == labels[i]]
        if usable:
            expected = sum(on_adv[i] != labels[i] for i in usable) / len(usable)
            assert r.transfer_rate(labels, success, student_before, on_adv) == pytest.approx(
                expected
            )
        else:
            with pytest.raises(ValueError, match="no adversarial example of the teacher"):
                r.transfer_rate(labels, success, student_before, on_adv)


def test_undefined_robustness_metrics_raise():
    with pytest.raises(ValueError, match="drop is undefined"):
        r.attack_drop(0.0, 0.0)
    with pytest.raises(ValueError, match="nothing was attacked"):
        r.success_rate(np.array([0]), np.array([1]), np.array([False]))
    with pytest.raises(ValueError, match="no attack succeeded"):
        r.perturbed_share(np.array([0]), np.array([4]), np.array([False]))


# -- the masked LM ---------------------------------------------------------------------------


def test_a_classifier_is_no_masked_lm(tiny_models):
    with pytest.raises(ModelLoadError, match="no trained masked-LM head"):
        MaskedLM(str(tiny_models.teacher))


def test_an_unreachable_hub_mlm_fails_with_one_sentence():
    with pytest.raises(ModelLoadError) as info:
        MaskedLM("bert-base-uncased")
    message = str(info.value)
    assert "could not be fetched from the Hugging Face Hub" in message
    assert "\n" not in message


# -- the plugin ------------------------------------------------------------------------------

ATTACK_GATE = """
def test_attack(guard):
    guard.assert_attack_drop(max=1.0)
    guard.assert_attack_drop_gap(max=1.0)
    guard.assert_transfer_rate(max=1.0)
"""


def run_attack_gate(
    pytester, tiny_models, *extra, source=ATTACK_GATE, cache=None, recipe="bert-attack"
):
    pytester.makepyfile(test_gate=source)
    return pytester.runpytest_inprocess(
        f"--teacher={tiny_models.teacher}",
        f"--student={tiny_models.student}",
        f"--eval-data={tiny_models.dev}",
        f"--attack-recipe={recipe}",
        f"--attack-mlm={tiny_models.mlm}",
        f"--attack-sentence-encoder={tiny_models.mlm}",
        f"--compressguard-cache-dir={cache or tiny_models.cache}",
        "--attack-examples=40",
        "-p",
        "no:randomly",
        *extra,
    )


def predictions(model_dir, texts):
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    with torch.no_grad():
        return model(**tok(texts, padding=True, return_tensors="pt")).logits.argmax(1).numpy()


def test_gate_reports_every_key_and_each_success_flips_on_rerun(pytester, tiny_models, tmp_path):
    out = tmp_path / "report.json"
    result = run_attack_gate(
        pytester, tiny_models, f"--compressguard-json={out}", cache=tmp_path / "cache"
    )
    result.assert_outcomes(passed=1)
    record = json.loads(out.read_text())["comparisons"][0]
    metrics = record["metrics"]
    for key in (
        "teacher_attack_accuracy_before",
        "teacher_attack_accuracy_after",
        "teacher_attack_drop",
        "student_attack_accuracy_before",
        "student_attack_accuracy_after",
        "student_attack_drop",
        "attack_drop_gap",
        "transfer_rate",
        "attack_success_rate",
    ):
        assert key in metrics
    examples = record["adversarial_examples"]
    assert {e["model"] for e in examples} == {"teacher", "student"}
    assert set(examples[0]) >= {
        "model",
        "original",
        "adversarial",
        "label",
        "before",
        "after",
        "words_changed",
        "success",
    }
    rows = dict(tiny_models.dev_rows)
    for model in ("teacher", "student"):
        mine = [e for e in examples if e["model"] == model]
        successes = [e for e in mine if e["success"]]
        assert successes
        folder = getattr(tiny_models, model)
        again = predictions(folder, [e["adversarial"] for e in successes])
        assert list(again) == [e["after"] for e in successes]
        assert all(e["after"] != e["label"] == e["before"] for e in successes)
        assert all(rows[e["original"]] == e["label"] for e in mine)
        assert all(e["words_changed"] <= 0.4 * len(words(e["original"])) for e in mine)
        before = metrics[f"{model}_attack_accuracy_before"]
        after = metrics[f"{model}_attack_accuracy_after"]
        assert metrics[f"{model}_attack_drop"] == pytest.approx((before - after) / before)
        # the report lists every attacked example (40 examples, cap 50): recount from it
        assert len(mine) == round(before * 40)
        assert metrics[f"{model}_attack_success_rate"] == pytest.approx(len(successes) / len(mine))
        assert metrics[f"{model}_attack_perturbed_words"] == pytest.approx(
            np.mean([e["words_changed"] / len(words(e["original"])) for e in successes])
        )
    assert metrics["attack_drop_gap"] == pytest.approx(
        metrics["student_attack_drop"] - metrics["teacher_attack_drop"]
    )
    # transfer: re-run the student on the teacher's adversarial texts
    teacher_hits = [e for e in examples if e["model"] == "teacher" and e["success"]]
    student_on_original = predictions(tiny_models.student, [e["original"] for e in teacher_hits])
    student_on_adv = predictions(tiny_models.student, [e["adversarial"] for e in teacher_hits])
    usable = [i for i, e in enumerate(teacher_hits) if student_on_original[i] == e["label"]]
    expected = np.mean([student_on_adv[i] != teacher_hits[i]["label"] for i in usable])
    assert metrics["transfer_rate"] == pytest.approx(expected)


def test_report_cap_and_perturbation_share_reach_the_attack(pytester, tiny_models, tmp_path):
    out = tmp_path / "capped.json"
    result = run_attack_gate(
        pytester,
        tiny_models,
        f"--compressguard-json={out}",
        "--attack-report-max=3",
        "--attack-max-perturb=0.2",
        cache=tmp_path / "cache",
    )
    result.assert_outcomes(passed=1)
    record = json.loads(out.read_text())["comparisons"][0]
    assert record["attack"]["max_perturb"] == 0.2
    for model in ("teacher", "student"):
        mine = [e for e in record["adversarial_examples"] if e["model"] == model]
        assert len(mine) == 3
        assert all(e["success"] for e in mine)  # successes come first
        assert all(e["words_changed"] <= math.floor(0.2 * len(words(e["original"]))) for e in mine)


def test_a_rerun_reads_the_cache_and_gives_identical_results(pytester, tiny_models, tmp_path):
    cache = tmp_path / "cache"
    reports = []
    for name in ("first", "second"):
        out = tmp_path / f"{name}.json"
        result = run_attack_gate(pytester, tiny_models, f"--compressguard-json={out}", cache=cache)
        result.assert_outcomes(passed=1)
        reports.append((result.stdout.str(), json.loads(out.read_text())["comparisons"][0]))
    (first_out, first), (second_out, second) = reports
    assert "read from the cache" not in first_out
    assert first_out.count("compressguard: attack on ") == 2
    assert second_out.count(": read from the cache (") == 2
    assert first["attack"]["cached"] == {"teacher": False, "student": False}
    assert second["attack"]["cached"] == {"teacher": True, "student": True}
    assert first["metrics"] == second["metrics"]
    assert first["adversarial_examples"] == second["adversarial_examples"]
    # another setting is another key: attacked again
    result = run_attack_gate(pytester, tiny_models, "--attack-candidates=8", cache=cache)
    assert "read from the cache" not in result.stdout.str()


def test_a_damaged_cache_entry_is_ignored_and_rebuilt(pytester, tiny_models, tmp_path):
    cache = tmp_path / "cache"
    out = tmp_path / "a.json"
    run_attack_gate(pytester, tiny_models, f"--compressguard-json={out}", cache=cache)
    entries = sorted((cache / "attacks").glob("*.json"))
    assert len(entries) == 2
    entry = json.loads(entries[0].read_text())
    entry["payload"]["examples"][0]["adversarial"] = "tampered"
    entries[0].write_text(json.dumps(entry))
    result = run_attack_gate(pytester, tiny_models, f"--compressguard-json={out}", cache=cache)
    result.assert_outcomes(passed=1)
    assert "ignoring the damaged attack cache entry" in result.stdout.str()
    assert result.stdout.str().count(": read from the cache (") == 1
    assert "tampered" not in out.read_text()


def test_no_attack_runs_unless_a_test_asks(pytester, tiny_models, tmp_path):
    source = "def test_loyal(guard):\n    guard.assert_label_loyalty(min=0.0)\n"
    out = tmp_path / "r.json"
    result = run_attack_gate(
        pytester,
        tiny_models,
        f"--compressguard-json={out}",
        source=source,
        cache=tmp_path / "cache",
    )
    result.assert_outcomes(passed=1)
    record = json.loads(out.read_text())["comparisons"][0]
    assert not any("attack" in k or k == "transfer_rate" for k in record["metrics"])
    assert "adversarial_examples" not in record
    assert not (tmp_path / "cache" / "attacks").exists()


def test_a_failed_attack_check_shows_adversarial_examples(pytester, tiny_models):
    source = """
def test_fragile(guard):
    guard.assert_attack_drop(max=0.01)

def test_gap(guard):
    from pytest_compressguard import assert_attack_drop_gap
    assert_attack_drop_gap(guard, max=-1.5)

def test_transfer(guard):
    from pytest_compressguard import assert_transfer_rate
    assert_transfer_rate(guard, max=-0.5)
"""
    result = run_attack_gate(pytester, tiny_models, source=source)
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "*student_attack_drop under bert-attack = * is above the maximum 0.0100",
            f"*teacher: {tiny_models.teacher}",
            f"*student: {tiny_models.student}",
            "*n=40)",
            "*the attack broke * of the * examples the student gets right*",
            "*      -> '*",
            "*1 of * words changed (*->*); gold=*, student * -> *",
            "*attack_drop_gap under bert-attack = * is above the maximum -1.5000",
            "*of the student's broken examples resist the teacher's attack",
            "*transfer_rate under bert-attack = * is above the maximum -0.5000",
            "*of the teacher's adversarial texts also fool the student",
            "*words changed (*->*); gold=*, teacher * -> *",
            "*student on it: *",
        ]
    )


def test_bad_attack_mlm_fails_with_one_sentence(pytester, tiny_models):
    result = run_attack_gate(pytester, tiny_models, f"--attack-mlm={tiny_models.teacher}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*could not be measured: --attack-mlm *no trained masked-LM head*"]
    )
    assert "Traceback" not in result.stdout.str()


def test_unlabelled_eval_data_cannot_be_attacked(pytester, tiny_models, tmp_path):
    data = tmp_path / "texts.csv"
    data.write_text("text\n" + "\n".join(t for t, _ in tiny_models.dev_rows) + "\n")
    pytester.makepyfile(test_gate=ATTACK_GATE)
    result = pytester.runpytest_inprocess(
        f"--teacher={tiny_models.teacher}",
        f"--student={tiny_models.student}",
        f"--eval-data={data}",
        f"--attack-mlm={tiny_models.mlm}",
        f"--attack-sentence-encoder={tiny_models.mlm}",
        "-p",
        "no:randomly",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*student_attack_drop could not be measured*label*"])
