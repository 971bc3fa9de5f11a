"""BERT-Attack: the algorithm on rule targets, the metrics, and the plugin end to end."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

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
