"""What an attack is made of and configured with: the recipes (:data:`RECIPES`), the
:class:`AttackSettings`, and the :class:`Parts` it runs on besides the target. The recipes:

- ``bert-attack`` (Li et al., EMNLP 2020): importance by masking, the masked LM's top-K words
  as substitutes, the first substitute (in the masked LM's order) that flips the label wins;
  sentence similarity >= 0.2 (cosine, whole texts, against the original; TextAttack's recipe).
- ``textfooler`` (Jin et al., AAAI 2020; the attack of Xu et al. 2021): importance by
  deletion, the 50 nearest words with cosine >= 0.5 in counter-fitted word vectors, every
  substitute of a word scored and the flip most similar to the text before the swap wins;
  sentence similarity >= 0.840845057 (angular, a window of 15 words around the swap, against
  the text before the swap; TextAttack's recipe). No part-of-speech constraint: no tagger runs
  offline.
- ``synonym``: the search of ``textfooler`` over the known synonyms (PPDB 2.0) of each word;
  no sentence-similarity constraint: its successes preserve meaning by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

#: The texts of a pair the attack may change.
SIDES = ("first", "second")
#: Constraints that reject candidates, in the order they are applied.
CONSTRAINTS = ("antonym", "synonym", "similarity")

Predict = Callable[[Sequence[str]], np.ndarray]
#: Cosine similarity of the sentence encoder for each (reference, text) pair.
Similarity = Callable[[Sequence[tuple[str, str]]], np.ndarray]


@dataclass(frozen=True)
class Recipe:
    """How a recipe ranks words, finds substitutes, searches and measures similarity."""

    name: str
    importance: str  # "mask" (the masked LM's mask token) or "delete"
    substitutes: str  # "mlm", "vectors" or "synonyms"
    search: str  # "first" (first flip in the substitutes' order) or "best" (most similar flip)
    candidates: int  # K: substitutes per word
    min_similarity: float | None  # the sentence-similarity threshold (None: no constraint)
    metric: str = "cosine"  # or "angular": 1 - arccos(cos) / pi
    window: int | None = None  # words around the swap the similarity is measured on
    against_original: bool = True  # else against the text before the swap
    min_vector_similarity: float = 0.0  # word-vector cosine a substitute needs


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("bert-attack", "mask", "mlm", "first", 48, 0.2),
        Recipe(
            "textfooler",
            "delete",
            "vectors",
            "best",
            50,
            0.840845057,
            metric="angular",
            window=15,
            against_original=False,
            min_vector_similarity=0.5,
        ),
        Recipe("synonym", "delete", "synonyms", "best", 50, None),
    )
}


class SubstituteSource(Protocol):
    """Where candidates come from: the masked LM, word vectors or the synonym lexicon."""

    def substitutes(self, text: str, spans: Sequence[tuple[int, int]], k: int) -> list[list[str]]:
        """Up to ``k`` ranked replacement words for each character span of ``text``."""
        ...


class Lexical(Protocol):
    def antonym(self, a: str, b: str) -> bool: ...

    def synonym(self, a: str, b: str) -> bool: ...


@dataclass(frozen=True)
class AttackSettings:
    """The knobs of the attack; all of them are part of the cache key."""

    recipe: str = "synonym"
    #: substitutes per word (None: the recipe's K)
    candidates: int | None = None
    max_perturb: float = 0.4
    max_queries: int | None = None
    #: the text of a pair that may change ("first" or "second"; the hypothesis by default)
    side: str = "second"
    #: reject a substitute that is a known antonym of the word
    antonyms: bool = True
    #: accept only known synonyms of the word
    synonyms_only: bool = False
    #: the sentence-similarity threshold (None: the recipe's; 0 turns the constraint off)
    min_similarity: float | None = None

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise ValueError(
                f"unknown attack recipe {self.recipe!r}; expected one of {', '.join(RECIPES)}"
            )
        if self.side not in SIDES:
            raise ValueError(f"side must be first or second, got {self.side!r}")
        if self.candidates is not None and self.candidates < 1:
            raise ValueError("the number of candidates must be at least 1")
        if not 0 < self.max_perturb <= 1:
            raise ValueError("max_perturb must be in (0, 1]")
        if self.max_queries is not None and self.max_queries < 1:
            raise ValueError("max_queries must be at least 1")
        if self.min_similarity is not None and not 0 <= self.min_similarity <= 1:
            raise ValueError(f"min_similarity must be in [0, 1], got {self.min_similarity}")

    @property
    def spec(self) -> Recipe:
        return RECIPES[self.recipe]

    @property
    def k(self) -> int:
        """Substitutes per word."""
        return self.candidates if self.candidates is not None else self.spec.candidates

    @property
    def threshold(self) -> float | None:
        """The sentence-similarity threshold in the recipe's metric, None when off."""
        value = self.min_similarity if self.min_similarity is not None else self.spec.min_similarity
        return value if value else None


@dataclass(frozen=True)
class Parts:
    """What an attack runs on besides the target: substitutes, lexicon, encoder, mask token."""

    source: SubstituteSource
    #: antonym and synonym pairs (None: the shipped lexicon, loaded when a constraint needs it)
    lexicon: Lexical | None = None
    similarity: Similarity | None = None
    mask_token: str = "[MASK]"
