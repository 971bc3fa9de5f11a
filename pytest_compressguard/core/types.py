"""The value types every layer shares: examples, answers, outputs, footprints, latencies and
attack results. Plain data; nothing here runs a model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, TypeAlias

import numpy as np

#: One example's input: a text, or a (text, pair) of two texts (NLI, paraphrase).
Text: TypeAlias = "str | tuple[str, str]"


@dataclass(frozen=True)
class Encoded:
    """The outputs of one pass: None for an output that was not requested."""

    probabilities: np.ndarray | None
    embeddings: np.ndarray | None


def show(text: Text) -> str:
    """An example as one line: a pair's texts joined by `` [SEP] ``."""
    return " [SEP] ".join(text) if isinstance(text, tuple) else text


def short(text: Text, width: int) -> str:
    """``text`` (a pair's texts joined by `` [SEP] ``) cut to ``width`` characters with an
    ellipsis."""
    line = show(text)
    return line if len(line) <= width else line[: width - 3] + "..."


@dataclass(frozen=True)
class Question:
    """One extractive-QA example: the question and the context its answer is taken from."""

    question: str
    context: str


@dataclass(frozen=True)
class Answer:
    """A model's answer to one question."""

    #: The answer text; "" when the model abstains.
    text: str
    #: Null score minus the best non-null candidate's score (run_qa's ``scores_diff``).
    null_odds: float
    #: The n-best candidates and the null answer as (text, probability), best first.
    candidates: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class QAOutputs:
    """A model's answers to some questions, and each question's embedding: the [CLS] (or
    mean) vector of its first window's last hidden state."""

    answers: list[Answer]
    embeddings: np.ndarray


@dataclass(frozen=True)
class Footprint:
    """A model's size and parameter count; ``measured_from`` says where the size came from."""

    size_bytes: int
    parameters: int
    measured_from: str  # "files" | "memory"


@dataclass(frozen=True)
class Latency:
    """The median time of one call on ``batch`` texts."""

    batch: int
    median_ms: float
    runs: int
    runtime: str
    threads: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ExampleResult:
    """The attack on one example. Labels are class indices of the attacked model."""

    index: int
    original: str
    adversarial: str
    label: int
    before: int
    after: int
    words: int
    words_changed: int
    queries: int
    status: str  # "success" | "failed" | "skipped"
    changes: tuple[tuple[str, str], ...] = field(default=())
    #: For a text pair: the text that was not attacked, and which side was ("first"/"second").
    context: str | None = None
    side: str | None = None
    #: A success: the encoder's cosine similarity of the original and the adversarial text.
    similarity: float | None = None
    #: Candidates that passed the stopword / non-word filter, and how many of them each
    #: constraint rejected (a candidate counts for the first constraint that rejects it).
    proposed: int = 0
    rejected: tuple[tuple[str, int], ...] = field(default=())

    @property
    def success(self) -> bool:
        return self.status == "success"

    def whole(self, text: str) -> Text:
        """``text`` (the original or the adversarial) as the model's input: with a pair's
        untouched text on its side."""
        return joined(text, self.context, self.side)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["changes"] = [list(c) for c in self.changes]
        out["rejected"] = dict(self.rejected)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExampleResult:
        return cls(
            **{
                **data,
                "changes": tuple(tuple(c) for c in data["changes"]),
                "rejected": tuple(data.get("rejected", {}).items()),
            }
        )


def joined(text: str, context: str | None, side: str | None) -> Text:
    """The model's input for an attacked ``text``: the text itself, or with a pair's
    untouched ``context``, the pair with ``text`` on ``side``."""
    if context is None:
        return text
    return (context, text) if side == "second" else (text, context)
