"""Multiple-choice eval sets for causal LMs: a prompt, its candidate continuations and the
index of the right one; and the prompt/continuation split of lm-evaluation-harness.

A row's choices cell is a list of strings: a JSON list in JSONL, JSON and ``hf:`` data, a
JSON-encoded list in a CSV or TSV cell. The label is the right choice's index (0-based).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_compressguard.core.errors import DataError
from pytest_compressguard.core.fingerprints import rows_fingerprint
from pytest_compressguard.data.texts import read_table


@dataclass(frozen=True)
class MultipleChoice:
    """Prompts, each with its choices, and the right choice's index per prompt."""

    spec: str
    prompts: tuple[str, ...]
    choices: tuple[tuple[str, ...], ...]
    labels: np.ndarray
    fingerprint: str

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def texts(self) -> tuple[str, ...]:
        """The prompts: what a report shows, and what a model embeds, of each row."""
        return self.prompts

    @property
    def texts_fingerprint(self) -> str:
        """SHA-256 of the prompts alone: the key of their embeddings."""
        return rows_fingerprint(self.prompts, None)


def split(
    prompt: str, continuation: str, encode: Callable[[str], list[int]]
) -> tuple[list[int], list[int]]:
    """The token ids of the context and of the continuation, as lm-evaluation-harness splits
    them: the prompt's trailing whitespace moves to the continuation, and the continuation's
    tokens are those of ``encode(context + continuation)`` past ``len(encode(context))``."""
    spaces = len(prompt) - len(prompt.rstrip())
    if spaces:
        continuation = prompt[-spaces:] + continuation
        prompt = prompt[:-spaces]
    whole = encode(prompt + continuation)
    context = encode(prompt)
    return context, whole[len(context) :]


def _choices(spec: str, row_number: int, cell: Any, column: str) -> tuple[str, ...]:
    """A choices cell as a tuple of at least two strings (one sentence when it is not)."""
    if isinstance(cell, str):
        try:
            cell = json.loads(cell)
        except json.JSONDecodeError:
            raise DataError(
                f"{spec}: example {row_number}'s {column!r} is not a JSON list of strings"
            ) from None
    if not isinstance(cell, list) or not all(isinstance(c, str) for c in cell):
        raise DataError(f"{spec}: example {row_number}'s {column!r} is not a list of strings")
    if len(cell) < 2:
        raise DataError(f"{spec}: example {row_number}'s {column!r} has fewer than two choices")
    return tuple(cell)


def _label(spec: str, row_number: int, cell: Any, column: str, choices: int) -> int:
    """A label cell as the index of one of ``choices`` choices (one sentence when not)."""
    text = str(cell).strip() if cell is not None else ""
    if not (text.isdigit() and int(text) < choices):
        raise DataError(
            f"{spec}: example {row_number}'s {column!r} is {cell!r}, not the index of one of "
            f"its {choices} choices (0 to {choices - 1})"
        )
    return int(text)


def load_choices(
    spec: str,
    *,
    text_column: str = "text",
    choices_column: str = "choices",
    label_column: str = "label",
    max_examples: int | None = None,
    seed: int = 0,
) -> MultipleChoice:
    """Read a multiple-choice set; with ``max_examples``, keep a seeded sample in file order."""
    rows, columns = read_table(spec)
    for column, option in (
        (text_column, "--text-column"),
        (choices_column, "--choices-column"),
        (label_column, "--label-column"),
    ):
        if column not in columns:
            raise DataError(
                f"{spec} has no column {column!r} (columns: {', '.join(columns)}); name the "
                f"right one with {option}"
            )
    prompts: list[str] = []
    choices: list[tuple[str, ...]] = []
    labels: list[int] = []
    for row_number, row in enumerate(rows):
        prompt = row.get(text_column)
        if not isinstance(prompt, str) or not prompt.strip():
            raise DataError(f"{spec}: example {row_number} has an empty {text_column!r}")
        options = _choices(spec, row_number, row.get(choices_column), choices_column)
        prompts.append(prompt)
        choices.append(options)
        labels.append(_label(spec, row_number, row.get(label_column), label_column, len(options)))
    if max_examples is not None and max_examples < len(prompts):
        keep = np.sort(
            np.random.default_rng(seed).choice(len(prompts), max_examples, replace=False)
        )
        prompts, choices, labels = (
            [prompts[i] for i in keep],
            [choices[i] for i in keep],
            [labels[i] for i in keep],
        )
    texts = [json.dumps([p, list(c)]) for p, c in zip(prompts, choices, strict=True)]
    return MultipleChoice(
        spec=spec,
        prompts=tuple(prompts),
        choices=tuple(choices),
        labels=np.asarray(labels, dtype=np.int64),
        fingerprint=rows_fingerprint(texts, [str(x) for x in labels]),
    )
