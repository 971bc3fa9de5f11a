"""Meaning-preserving attacks: the lexicon, each constraint on hand-made cases, the recipes on
rule targets, the validity figures against counts made here, the sentence encoder and word
vectors against direct computations, and the options end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pytest_compressguard.attacks.lexicon import Lexicon, SynonymSource, lexicon, pairs
from pytest_compressguard.attacks.search import (
    RECIPES,
    AttackSettings,
    Parts,
    attack_example,
    deleted,
    validity,
    window,
    words,
)
from pytest_compressguard.attacks.semantics import SentenceEncoder, WordVectors, angular
from pytest_compressguard.core.errors import ModelLoadError
from pytest_compressguard.core.types import ExampleResult


class Offers:
    """A substitute source that offers the same words for every word."""

    def __init__(self, *offered):
        self.offered = list(offered)

    def substitutes(self, text, spans, k):
        return [self.offered[:k] for _ in spans]


def hinges_on(word):
    """Positive while ``word`` is in the text."""

    def target(texts):
        return np.array([[0.1, 0.9] if word in t.split() else [0.9, 0.1] for t in texts])

    return target


def BERT(**kwargs):
    return AttackSettings(recipe="bert-attack", **kwargs)


def no_encoder(**kwargs):
    return AttackSettings(recipe="bert-attack", min_similarity=0.0, **kwargs)


# -- the lexicon ---------------------------------------------------------------------------


def test_pairs_are_case_folded_symmetric_ordered_and_never_a_word_with_itself():
    found = pairs(["Slow fast", "slow quick", "same Same", "broken line here", "", "fast slow"])
    assert found == {
        "slow": {"fast": None, "quick": None},
        "fast": {"slow": None},
        "quick": {"slow": None},
    }
    words_ = Lexicon(antonyms=found, synonyms={"big": {"large": None}, "large": {"big": None}})
    assert words_.antonym("SLOW", "Fast") and words_.antonym("fast", "slow")
    assert not words_.antonym("slow", "big") and words_.synonym("Big", "LARGE")
    assert words_.synonyms_of("Big") == ["large"] and words_.synonyms_of("none") == []


def test_the_shipped_lexicon_holds_the_published_pairs():
    shipped = lexicon()
    assert shipped.antonym("slow", "fast") and shipped.antonym("good", "bad")
    assert shipped.synonym("charming", "enchanting") and not shipped.synonym("slow", "calm")
    assert shipped.synonyms_of("awful") == ["dreadful", "terrible", "horrific", "horrendous"]
    # every distinct pair of the files, each way round
    import gzip
    from importlib import resources

    folder = resources.files("pytest_compressguard.attacks.lexicon")
    for relation, names in (
        (shipped.synonyms, ["ppdb_synonyms.txt.gz"]),
        (shipped.antonyms, ["wordnet_antonyms.txt.gz", "ppdb_antonyms.txt.gz"]),
    ):
        distinct = set()
        for name in names:
            lines = gzip.decompress(folder.joinpath(name).read_bytes()).decode().splitlines()
            distinct |= {frozenset(x.lower() for x in line.split()) for line in lines}
        distinct = {p for p in distinct if len(p) == 2}
        assert sum(map(len, relation.values())) == 2 * len(distinct)


# -- constraints on hand-made cases ----------------------------------------------------------


def test_an_antonym_swap_is_rejected_and_counted_and_a_synonym_accepted():
    target = hinges_on("slow")
    text = "a very slow film"
    filtered = attack_example(target, Parts(Offers("fast", "sluggish")), text, 1, no_encoder())
    assert filtered.success and filtered.changes == (("slow", "sluggish"),)
    assert dict(filtered.rejected) == {"antonym": 1, "synonym": 0, "similarity": 0}
    assert filtered.proposed == 2
    # without the filter the antonym, offered first, is taken
    unfiltered = attack_example(
        target, Parts(Offers("fast", "sluggish")), text, 1, no_encoder(antonyms=False)
    )
    assert unfiltered.changes == (("slow", "fast"),)
    assert dict(unfiltered.rejected)["antonym"] == 0


def test_synonyms_only_accepts_known_synonyms_alone():
    target = hinges_on("awful")  # positive while "awful" is there: label 1
    text = "an awful film"
    settings = no_encoder(synonyms_only=True)
    result = attack_example(target, Parts(Offers("calm", "dreadful")), text, 1, settings)
    assert result.success and result.changes == (("awful", "dreadful"),)
    assert dict(result.rejected)["synonym"] == 1
    # nothing but non-synonyms on offer: the attack fails
    failed = attack_example(target, Parts(Offers("calm", "quiet")), text, 1, settings)
    assert failed.status == "failed" and dict(failed.rejected)["synonym"] == 4  # awful, film


def test_a_low_similarity_text_is_rejected_and_the_success_records_its_similarity():
    asked = []

    def similarity(pairs_):
        asked.extend(pairs_)
        return np.array([0.1 if "awful" in b.split() else 0.95 for _, b in pairs_])

    target = hinges_on("good")
    text = "a good film"
    parts = Parts(Offers("awful", "fine"), similarity=similarity)
    result = attack_example(target, parts, text, 1, BERT(min_similarity=0.5))
    assert result.success and result.changes == (("good", "fine"),)
    assert dict(result.rejected)["similarity"] == 1
    assert result.similarity == 0.95
    # bert-attack compares whole texts with the original; the success is measured too
    assert asked == [(text, "a awful film"), (text, "a fine film"), (text, "a fine film")]


def test_the_similarity_constraint_needs_an_encoder():
    with pytest.raises(ValueError, match="needs a sentence encoder"):
        attack_example(hinges_on("good"), Parts(Offers("fine")), "a good film", 1, BERT())


def test_windows_follow_textattack_at_the_start_middle_and_end():
    text = " ".join(f"w{i}" for i in range(20))
    spans = words(text)
    assert window(text, spans, 0, 5) == "w0 w1 w2 w3 w4"
    assert window(text, spans, 1, 5) == "w0 w1 w2 w3 w4"
    assert window(text, spans, 10, 5) == "w8 w9 w10 w11 w12"
    assert window(text, spans, 10, 4) == "w8 w9 w10 w11"  # (4 - 1) / 2: 2 before, 1 after
    assert window(text, spans, 19, 5) == "w15 w16 w17 w18 w19"
    assert window(text, spans, 3, None) == text and window(text, spans, 3, 20) == text
    assert deleted("a good, fine film", words("a good, fine film"), 1) == "a , fine film"
    assert deleted("good film", words("good film"), 0) == "film"
    assert deleted("a film", words("a film"), 1) == "a"


def test_textfooler_measures_angular_similarity_against_the_text_before_the_swap():
    recipe = RECIPES["textfooler"]
    assert (recipe.metric, recipe.window, recipe.against_original) == ("angular", 15, False)
    assert angular(np.array([1.0, 0.0, -1.0])) == pytest.approx([1.0, 0.5, 0.0])
    assert angular(np.array([math.cos(0.5)]))[0] == pytest.approx(recipe.min_similarity, abs=1e-9)
    asked = []

    def similarity(pairs_):
        asked.extend(pairs_)
        return np.ones(len(pairs_))

    def target(texts):  # each of "good" and "fine" gone adds 0.25: two swaps flip it
        negative = np.array(
            [0.2 + 0.25 * ("good" not in t) + 0.25 * ("fine" not in t) for t in texts]
        )
        return np.stack([negative, 1 - negative], axis=1)

    text = "good a b c d e f g h fine"
    parts = Parts(Offers("nice"), similarity=similarity)
    result = attack_example(target, parts, text, 1, AttackSettings(recipe="textfooler"))
    assert result.success and result.adversarial == "nice a b c d e f g h nice"
    # the second swap is compared with the text holding the first; the success with the original
    assert asked == [
        (text, "nice a b c d e f g h fine"),
        ("nice a b c d e f g h fine", "nice a b c d e f g h nice"),
        (text, "nice a b c d e f g h nice"),
    ]
    # bert-attack compares every swap with the original
    asked.clear()
    attack_example(target, parts, text, 1, BERT())
    assert asked[1] == (text, "nice a b c d e f g h nice")


# -- recipes ---------------------------------------------------------------------------------


def test_the_synonym_recipe_swaps_a_known_synonym_and_fails_without_one():
    shipped = lexicon()
    target = hinges_on("terrible")
    negative = lambda texts: 1 - target(texts)  # noqa: E731
    text = "a terrible film"
    result = attack_example(
        negative, Parts(SynonymSource(shipped)), text, 0, AttackSettings(recipe="synonym")
    )
    assert result.success and result.changes[0][0] == "terrible"
    assert result.changes[0][1] in shipped.synonyms_of("terrible")
    assert negative([result.adversarial]).argmax() == 1  # re-run: it flips
    # "qwerty" has no synonym: nothing is proposed, the attack fails
    result = attack_example(
        lambda t: 1 - hinges_on("qwerty")(t),
        Parts(SynonymSource(shipped)),
        "a qwerty",
        0,
        AttackSettings(recipe="synonym"),
    )
    assert result.status == "failed" and result.proposed == 0


def write_vectors(path, rows):
    path.write_text("\n".join(f"{w} " + " ".join(f"{x:g}" for x in v) for w, v in rows) + "\n")
    return path


def test_textfooler_swaps_a_near_word_vector_and_never_a_far_one(tmp_path):
    vectors = WordVectors(
        str(
            write_vectors(
                tmp_path / "v.txt",
                [
                    ("good", [1, 0, 0]),
                    ("fine", [0.8, 0.6, 0]),
                    ("bad", [0.3, -0.95, 0]),
                    ("film", [0, 0, 1]),
                    ("movie", [0, 0.2, 0.98]),
                ],
            )
        ),
        min_similarity=0.5,
    )
    assert vectors.substitutes("good film", words("good film"), 50) == [["fine"], ["movie"]]
    parts = Parts(vectors, similarity=lambda p: np.ones(len(p)))
    result = attack_example(
        hinges_on("good"), parts, "a good film", 1, AttackSettings(recipe="textfooler")
    )
    assert result.success and result.changes == (("good", "fine"),)
    # "good" hinges only on a far word: no near word flips it
    only_far = attack_example(
        lambda t: np.array([[0.9, 0.1] if "bad" in s.split() else [0.1, 0.9] for s in t]),
        parts,
        "a good film",
        1,
        AttackSettings(recipe="textfooler"),
    )
    assert only_far.status == "failed"


def test_word_vectors_rank_by_cosine_ties_by_line_and_cache_the_matrix(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    names = [f"w{i}" for i in range(300)]
    matrix = rng.normal(size=(300, 8)).round(1)
    matrix[7] = matrix[3] * 2  # a tie with row 3 for every query
    path = write_vectors(tmp_path / "v.txt", list(zip(names, matrix, strict=True)))
    vectors = WordVectors(str(path), min_similarity=0.1, cache_dir=tmp_path / "cache")
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    text = "w0 w3 w250"
    got = vectors.substitutes(text, words(text), 12)
    for w, found in zip(text.split(), got, strict=True):
        i = names.index(w)
        sims = unit @ unit[i]
        order = sorted((j for j in range(300) if j != i), key=lambda j: (-round(sims[j], 5), j))
        assert found == [names[j] for j in order[:12] if sims[j] >= 0.1 - 1e-6]
    # a second load reads the verified cache entry, not the text file
    import pytest_compressguard.attacks.semantics as semantics

    monkeypatch.setattr(semantics, "parse_vectors", lambda *a: pytest.fail("parsed again"))
    again = WordVectors(str(path), min_similarity=0.1, cache_dir=tmp_path / "cache")
    assert again.words == vectors.words and np.array_equal(again.matrix, vectors.matrix)


@pytest.mark.parametrize(
    "content,message",
    [
        ("good 1 2 3\nbad 1 2\n", r"line 2 is not 'word v1 \.\.\. v3'"),
        ("good 1 x 3\n", "line 1 is not"),
        ("\n\n", "holds no word vectors"),
    ],
)
def test_malformed_word_vectors_are_one_sentence(tmp_path, content, message):
    path = tmp_path / "v.txt"
    path.write_text(content)
    with pytest.raises(ModelLoadError, match=message) as info:
        WordVectors(str(path))
    assert "\n" not in str(info.value)
    with pytest.raises(ModelLoadError, match=r"no such file.*counter-fitting"):
        WordVectors(str(tmp_path / "missing.txt"))


# -- validity --------------------------------------------------------------------------------


def example(status, changes=(), similarity=None, proposed=0, antonym=0, similar=0):
    return ExampleResult(
        index=0,
        original="o",
        adversarial="a",
        label=1,
        before=1,
        after=0 if status == "success" else 1,
        words=5,
        words_changed=len(changes),
        queries=1,
        status=status,
        changes=tuple(changes),
        similarity=similarity,
        proposed=proposed,
        rejected=(("antonym", antonym), ("synonym", 0), ("similarity", similar)),
    )


def test_validity_figures_equal_counts_made_by_hand():
    examples = [
        example("success", [("awful", "dreadful"), ("film", "movie")], 0.9, 10, 2, 1),
        example("success", [("slow", "calm")], 0.7, 6, 0, 3),
        example("failed", [("good", "fine")], None, 8, 1, 0),  # a failure's swaps do not count
        example("skipped"),
    ]
    got = validity(examples, lexicon())
    # known synonyms among the 3 swaps of successes: awful/dreadful and film/movie
    assert lexicon().synonym("film", "movie") and not lexicon().synonym("slow", "calm")
    assert got == {
        "successes": 2,
        "similarity": pytest.approx((0.9 + 0.7) / 2),
        "swaps": 3,
        "synonym_share": pytest.approx(2 / 3),
        "antonym_rejected_share": pytest.approx(3 / 24),
        "similarity_rejected_share": pytest.approx(4 / 24),
    }
    empty = validity([example("skipped")], lexicon())
    assert empty["similarity"] is None and empty["synonym_share"] is None
    assert empty["antonym_rejected_share"] is None


# -- the sentence encoder ----------------------------------------------------------------------


def test_sentence_similarity_is_the_cosine_of_mean_pooled_embeddings(tiny_models):
    from transformers import AutoModel, AutoTokenizer

    encoder = SentenceEncoder(str(tiny_models.mlm))
    pairs_ = [("the movie was good", "the movie was fine"), ("a bad plot", "the good plot is")]
    tok = AutoTokenizer.from_pretrained(tiny_models.mlm)
    model = AutoModel.from_pretrained(tiny_models.mlm).eval()

    def embed(text):  # one text at a time: no padding to get wrong
        with torch.no_grad():
            hidden = model(**tok(text, return_tensors="pt")).last_hidden_state[0]
        return hidden.mean(dim=0).double().numpy()

    for (a, b), got in zip(pairs_, encoder.cosine(pairs_), strict=True):
        x, y = embed(a), embed(b)
        assert got == pytest.approx(x @ y / np.linalg.norm(x) / np.linalg.norm(y), abs=1e-6)


def test_an_unreachable_hub_encoder_fails_with_one_sentence():
    with pytest.raises(ModelLoadError) as info:
        SentenceEncoder("sentence-transformers/paraphrase-MiniLM-L3-v2")
    assert "could not be fetched from the Hugging Face Hub" in str(info.value)
    assert "\n" not in str(info.value)


# -- the plugin --------------------------------------------------------------------------------
