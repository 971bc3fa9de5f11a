"""Attack recipes through the plugin: their JSON and cache keys, several in one session,
determinism, bad options."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pytest_compressguard.attacks.lexicon import SynonymSource, lexicon
from pytest_compressguard.attacks.search import (
    AttackSettings,
    Parts,
)
from pytest_compressguard.attacks.semantics import WordVectors
from tests.test_attack_gate import run_attack_gate
from tests.test_constraints import write_vectors

GATE = "def test_attack(guard):\n    guard.assert_attack_drop(max=1.0)\n"


def run(pytester, tiny_models, *extra, cache, recipe="bert-attack"):
    return run_attack_gate(pytester, tiny_models, *extra, source=GATE, cache=cache, recipe=recipe)


def test_recipes_and_constraints_reach_the_json_and_each_has_its_cache_key(
    pytester, tiny_models, tmp_path
):
    cache = tmp_path / "cache"
    out = tmp_path / "report.json"
    runs = {  # name: (recipe, options)
        "synonym": ("synonym", ()),
        "synonyms only": ("bert-attack", ("--attack-synonyms-only",)),
        "no antonym filter": ("bert-attack", ("--attack-antonym-filter=false",)),
        "similarity 0.9": ("bert-attack", ("--attack-min-similarity=0.9",)),
    }
    seen = {}
    for name, (recipe, flags) in runs.items():
        result = run(
            pytester,
            tiny_models,
            f"--compressguard-json={out}",
            *flags,
            cache=cache,
            recipe=recipe,
        )
        result.assert_outcomes(passed=1)
        assert "read from the cache" not in result.stdout.str(), name  # a key of its own
        record = json.loads(out.read_text())["comparisons"][0]
        seen[name] = record
        assert "attack validity" in result.stdout.str()
    assert seen["synonym"]["attack"]["recipe"] == "synonym"
    assert seen["synonym"]["attack"]["min_similarity"] is None
    assert seen["similarity 0.9"]["attack"]["min_similarity"] == 0.9
    assert seen["no antonym filter"]["attack"]["antonyms"] is False
    shipped = lexicon()
    for name, record in seen.items():
        for e in record["adversarial_examples"]:
            if not e["success"]:
                continue
            for old, new in e["changes"]:
                if name in ("synonym", "synonyms only"):
                    assert shipped.synonym(old, new), (name, old, new)
                if name != "no antonym filter":
                    assert not shipped.antonym(old, new), (name, old, new)
            assert e["similarity"] is not None
            if name == "similarity 0.9":
                assert e["similarity"] >= 0.9 - 1e-9
    # the same settings again: every attack is read from the cache, the JSON is the same
    result = run(
        pytester, tiny_models, f"--compressguard-json={out}", cache=cache, recipe="synonym"
    )
    assert "read from the cache (" in result.stdout.str()
    again = json.loads(out.read_text())["comparisons"][0]
    assert again["adversarial_examples"] == seen["synonym"]["adversarial_examples"]
    assert again["attack"]["validity"] == seen["synonym"]["attack"]["validity"]


def test_textfooler_without_vectors_and_bad_attack_options_are_one_sentence(
    pytester, tiny_models, tmp_path
):
    result = run(pytester, tiny_models, cache=tmp_path / "c", recipe="textfooler")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*textfooler recipe needs --attack-word-vectors PATH*"])
    assert "Traceback" not in result.stdout.str()
    for flags in (
        ["--attack-recipe=pwws"],
        ["--attack-min-similarity=1.5"],
        ["--attack-min-similarity=-0.1"],
        ["--attack-antonym-filter=maybe"],
    ):
        result = pytester.runpytest_inprocess(*flags)
        assert result.ret == pytest.ExitCode.USAGE_ERROR, flags


def test_several_recipes_in_one_session_each_with_its_metrics(pytester, tiny_models, tmp_path):
    out = tmp_path / "report.json"
    source = """
def test_attacks(guard):
    guard.assert_attack_drop(max=1.0)
    guard.assert_attack_drop(max=1.0, recipe="synonym")
    guard.assert_attack_drop(max=1.0, recipe="bert-attack")  # the first, named

def test_a_recipe_not_run(guard):
    guard.assert_attack_drop(max=1.0, recipe="textfooler")
"""
    result = run_attack_gate(
        pytester,
        tiny_models,
        "--attack-recipe=synonym",  # after run_attack_gate's bert-attack: bert-attack is first
        "--attack-recipe=bert-attack",  # a repeat counts once
        f"--compressguard-json={out}",
        source=source,
        cache=tmp_path / "cache",
    )
    result.assert_outcomes(passed=1, failed=1)
    text = result.stdout.str()
    assert (
        "the textfooler attack is not run in this session (recipes: bert-attack, synonym)" in text
    )
    record = json.loads(out.read_text())["comparisons"][0]
    assert record["attack"]["recipe"] == "bert-attack" and set(record["attacks"]) == {"synonym"}
    for a in (record, record["attacks"]["synonym"]):
        metrics = a["metrics"]
        for model in ("teacher", "student"):
            listed = [e for e in a["adversarial_examples"] if e["model"] == model]
            broken = sum(e["success"] for e in listed)
            # every attacked example is listed (30 < the report cap): the drop is broken / right
            assert metrics[f"{model}_attack_drop"] == pytest.approx(broken / len(listed))
    shipped = lexicon()
    synonym_swaps = [
        pair
        for e in record["attacks"]["synonym"]["adversarial_examples"]
        if e["success"]
        for pair in e["changes"]
    ]
    assert synonym_swaps and all(shipped.synonym(a, b) for a, b in synonym_swaps)
    checks = [c for c in record["checks"] if c["metric"] == "student_attack_drop"]
    assert [c.get("recipe") for c in checks] == [None, "synonym", "bert-attack"]
    assert checks[0]["value"] == checks[2]["value"]
    assert "attack validity, " in text and ", synonym: teacher similarity" in text


def test_each_recipe_is_deterministic(tmp_path):
    from pytest_compressguard.attacks.search import attack

    texts = ["a terrible and dull film", "an awful plot", "a dull film", "a film"]
    labels = [0, 0, 0, 0]  # the last is classified positive: skipped

    def negative_while_sad(batch):
        sad = {"terrible", "dull", "awful", "grim", "bleak"}
        return np.array([[0.8, 0.2] if sad & set(t.split()) else [0.3, 0.7] for t in batch])

    vectors = WordVectors(
        str(write_vectors(tmp_path / "v.txt", [("dull", [1, 0]), ("boring", [0.9, 0.43])])),
        min_similarity=0.5,
    )
    sources = {"synonym": SynonymSource(lexicon()), "textfooler": vectors}
    for recipe, source in sources.items():
        parts = Parts(source, similarity=lambda p: np.ones(len(p)))
        runs = [
            attack(negative_while_sad, parts, texts, labels, AttackSettings(recipe=recipe))
            for _ in "ab"
        ]
        assert runs[0] == runs[1], recipe
        assert any(e.success for e in runs[0]) and runs[0][3].status == "skipped", recipe


def test_a_recipe_argument_must_name_a_recipe_the_session_runs():
    from pytest_compressguard import Comparison

    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    guard = Comparison.from_arrays(probs, probs, np.array([0, 1]), bootstrap=0)
    with pytest.raises(TypeError, match="recipe must be a recipe's name, got 3"):
        guard.assert_attack_drop(max=1.0, recipe=3)
    with pytest.raises(pytest.fail.Exception, match=r"synonym attack is not run .*recipes: none"):
        guard.assert_attack_drop(max=1.0, recipe="synonym")
