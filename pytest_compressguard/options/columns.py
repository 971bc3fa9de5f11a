"""Which columns of a data file hold the text, the second text of a pair and the label."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_compressguard.options.option import Option, table


@dataclass(frozen=True)
class ColumnsPart:
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"


OPTIONS = table(
    ColumnsPart,
    Option(
        "--text-column",
        "text_column",
        "column holding the text.",
        metavar="NAME",
    ),
    Option(
        "--text-pair-column",
        "text_pair_column",
        "column holding each example's second text: the examples become text pairs "
        "(NLI, paraphrase), encoded as each model's tokenizer encodes a pair.",
        metavar="NAME",
    ),
    Option(
        "--label-column",
        "label_column",
        "column holding the gold label.",
        metavar="NAME",
    ),
)
