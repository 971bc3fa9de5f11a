"""The choices of the word-substitution attack, one by one, on rule targets and hand-made
substitutes: which flip is kept, the thresholds as "at least", which words are attacked and
which candidates are substitutions, the order words are visited in and the queries counted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from pytest_compressguard.attacks.search import AttackSettings, Parts, attack_example, words
from pytest_compressguard.attacks.semantics import WordVectors
from pytest_compressguard.attacks.spans import attackable, usable

Target = Callable[[Sequence[str]], np.ndarray]


class Offers:
    """A substitute source that offers the same words, in this order, for every word."""

    def __init__(self, *offered: str) -> None:
        self.offered = list(offered)

    def substitutes(self, text: str, spans: Sequence[tuple[int, int]], k: int) -> list[list[str]]:
        return [self.offered[:k] for _ in spans]


def positive_while(*present: str) -> Target:
    """Positive (label 1) while any of ``present`` is a word of the text (case-sensitive)."""

    def target(texts: Sequence[str]) -> np.ndarray:
        return np.array(
            [[0.1, 0.9] if set(present) & set(t.split()) else [0.9, 0.1] for t in texts]
        )

    return target


def first_flip(**kwargs: Any) -> AttackSettings:
    """bert-attack's search (the first flip in the substitutes' order), no encoder."""
    return AttackSettings(recipe="bert-attack", **{"min_similarity": 0.0, **kwargs})


def best_flip(**kwargs: Any) -> AttackSettings:
    """The search that scores every substitute of a word (``synonym``'s, as ``textfooler``'s),
    the lexicon's constraints off: the offered words are the candidates."""
    return AttackSettings(recipe="synonym", antonyms=False, **kwargs)


def by_second_word(similarity: dict[str, float]) -> Callable[[list[tuple[str, str]]], np.ndarray]:
    """A sentence encoder whose similarity of a pair is given by the second text's second
    word (the swapped one in ``"a good film"``), 0 for a word not given."""
    return lambda pairs: np.array([similarity.get(b.split()[1], 0.0) for _, b in pairs])


# -- which flip ------------------------------------------------------------------------------


def test_among_the_flips_the_most_similar_is_kept():
    """The module docstring: ``best`` search scores every candidate and the flip with the
    highest sentence similarity ends the attack. Every offered word flips the target."""
    similarity = by_second_word({"fine": 0.6, "nice": 0.9, "okay": 0.7})
    parts = Parts(Offers("fine", "nice", "okay"), similarity=similarity)
    result = attack_example(
        positive_while("good"), parts, "a good film", 1, best_flip(min_similarity=0.5)
    )
    assert result.success and result.changes == (("good", "nice"),)
    assert result.similarity == 0.9
    # every candidate was scored: 1 + 3 importance texts + 3 candidates
    assert result.queries == 7


def test_without_a_threshold_best_search_keeps_the_first_flip():
    result = attack_example(
        positive_while("good"), Parts(Offers("fine", "nice")), "a good film", 1, best_flip()
    )
    assert result.changes == (("good", "fine"),) and result.similarity is None


def test_first_search_takes_the_first_flip_in_the_substitutes_order_and_counts_to_it():
    """Candidates are scored in chunks of 1, 2, 4, ...: "calm" does not flip, the chunk
    ("fine", "nice") both do, and "fine", the first, wins. Queries: the text, its 3 importance
    texts, then the candidates up to the flip (calm, fine): 6."""
    parts = Parts(Offers("calm", "fine", "nice"))
    result = attack_example(positive_while("good", "calm"), parts, "a good film", 1, first_flip())
    assert result.success and result.changes == (("good", "fine"),)
    assert result.queries == 6


# -- thresholds are "at least" ---------------------------------------------------------------


def test_a_candidate_at_the_similarity_threshold_exactly_is_kept():
    """``min_similarity`` is the least similarity a text may keep: one equal to it passes."""
    parts = Parts(Offers("fine"), similarity=by_second_word({"fine": 0.5}))
    result = attack_example(
        positive_while("good"), parts, "a good film", 1, first_flip(min_similarity=0.5)
    )
    assert result.success and result.changes == (("good", "fine"),)
    assert dict(result.rejected)["similarity"] == 0
    below = Parts(Offers("fine"), similarity=by_second_word({"fine": 0.4999}))
    missed = attack_example(
        positive_while("good"), below, "a good film", 1, first_flip(min_similarity=0.5)
    )
    assert missed.status == "failed" and dict(missed.rejected)["similarity"] == 2  # good, film


def test_a_word_vector_neighbour_at_min_similarity_exactly_is_kept(tmp_path):
    """Cosine exactly 0.5 (binary fractions all the way: (1,0,0,0) against (1,1,1,1) / 2) with
    ``min_similarity=0.5``: the neighbour is offered; at 0.5 plus a little it is not."""
    path = tmp_path / "v.txt"
    path.write_text("good 1 0 0 0\nfine 1 1 1 1\nfilm 0 0 0 1\n")
    text = "good film"
    found = WordVectors(str(path), min_similarity=0.5).substitutes(text, words(text), 5)
    assert found == [["fine"], ["fine"]]
    stricter = WordVectors(str(path), min_similarity=0.5 + 1e-6).substitutes(text, words(text), 5)
    assert stricter == [[], []]


# -- which words are attacked, which candidates are substitutions ---------------------------


@pytest.mark.parametrize("word", ["Not", "The", "NOT", "not"])
def test_a_stopword_is_never_attacked_whatever_its_case(word):
    """The target hinges on the stopword alone: it is never replaced, and the other word's
    substitute does not move the target, so nothing changes."""
    assert not attackable(word)
    text = f"{word} film"
    settings = first_flip(max_perturb=1.0)
    result = attack_example(positive_while(word), Parts(Offers("zebra")), text, 1, settings)
    assert result.status == "failed" and result.changes == ()
    assert result.proposed == 1  # "zebra" for "film" only


def test_a_stopword_is_never_offered_whatever_its_case():
    assert not usable("The", "film") and not usable("NOT", "film") and usable("zebra", "film")


def test_a_candidate_that_differs_only_in_case_is_no_substitution():
    """ "Good" for "good" would flip a case-sensitive target, but it is the same word."""
    assert not usable("Good", "good") and not usable("GOOD", "good") and not usable("good", "Good")
    parts = Parts(Offers("Good", "GOOD"))
    settings = first_flip(max_perturb=1.0)
    result = attack_example(positive_while("good"), parts, "good", 1, settings)
    assert result.status == "failed" and result.proposed == 0 and result.changes == ()


def test_a_capitalised_word_gets_a_capitalised_substitute():
    settings = first_flip(max_perturb=1.0)
    result = attack_example(positive_while("Good"), Parts(Offers("fine")), "Good film", 1, settings)
    assert result.adversarial == "Fine film"
    upper = attack_example(positive_while("GOOD"), Parts(Offers("fine")), "GOOD film", 1, settings)
    assert upper.adversarial == "fine film"  # only a capitalised word is matched


# -- the order words are visited in, and what a failed attack keeps --------------------------


def both_words(texts: Sequence[str]) -> np.ndarray:
    """Positive (0.9) with "good" and "fine"; without "good" 0.1, without "fine" 0.3, without
    both 0.2: "good" matters most, and replacing either word flips the label."""
    rows = []
    for t in texts:
        ws = t.split()
        good, fine = "good" in ws, "fine" in ws
        p = 0.9 if good and fine else 0.3 if good else 0.1 if fine else 0.2
        rows.append([1 - p, p])
    return np.array(rows)


def test_words_are_visited_by_descending_importance():
    """ "good" (importance 0.8) before "fine" (0.6) before "film" (0): its swap ends it."""
    result = attack_example(both_words, Parts(Offers("calm")), "film fine good", 1, first_flip())
    assert result.success and result.changes == (("good", "calm"),)


def lowers_by(drops: dict[str, float]) -> Target:
    """Always positive; each word of ``drops`` in the text lowers the positive probability."""

    def target(texts: Sequence[str]) -> np.ndarray:
        p = np.array([0.9 - sum(drops.get(w, 0.0) for w in t.split()) for t in texts])
        return np.stack([1 - p, p], axis=1)

    return target


def test_without_a_flip_the_candidate_that_lowers_the_gold_label_most_is_kept():
    """No candidate flips; "calm" lowers the gold probability most, "nice" a little, "okay"
    not at all: "calm" is kept for "good", the one word the budget allows."""
    target = lowers_by({"nice": 0.1, "calm": 0.2})
    result = attack_example(
        target, Parts(Offers("okay", "nice", "calm")), "good film", 1, first_flip(max_perturb=0.5)
    )
    assert result.status == "failed" and result.changes == (("good", "calm"),)
    assert result.adversarial == "calm film"


def test_the_word_budget_is_floor_of_the_share_even_where_floats_fall_short():
    """0.58 of 50 words is 29 words, though ``0.58 * 50`` is 28.999999999999996 in floats:
    the budget is the floor of the exact product. Every swap lowers the gold probability a
    little and none flips it, so the attack changes all the words it may."""
    text = " ".join(f"film{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(50))
    assert 0.58 * 50 < 29 and len(words(text)) == 50
    target = lowers_by({"calm": 0.005})
    result = attack_example(target, Parts(Offers("calm")), text, 1, first_flip(max_perturb=0.58))
    assert result.status == "failed" and result.words_changed == 29
