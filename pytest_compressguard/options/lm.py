"""How the causal-LM task reads multiple-choice sets, prompts greedy continuations and keeps
a teacher's snapshot."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_compressguard.options.option import Option, table
from pytest_compressguard.options.values import positive_int, text

#: Tokens of a text before its greedy continuation (generation_agreement).
PROMPT_TOKENS = 32
#: Tokens of each greedy continuation.
GENERATE_TOKENS = 16
#: The teacher's most likely tokens a snapshot keeps per scored position.
SNAPSHOT_TOP_K = 128


@dataclass(frozen=True)
class LmPart:
    choices_column: str = "choices"
    prompt_tokens: int = PROMPT_TOKENS
    generate_tokens: int = GENERATE_TOKENS
    snapshot_top_k: int = SNAPSHOT_TOP_K


OPTIONS = table(
    LmPart,
    Option(
        "--choices-column",
        "choices_column",
        "causal LMs: the column of a multiple-choice eval set's candidate continuations (a "
        "list of strings); --text-column is the prompt and --label-column the right choice's "
        "index. An eval set without it is a set of documents.",
        text,
        metavar="NAME",
    ),
    Option(
        "--prompt-tokens",
        "prompt_tokens",
        "causal LMs: generation_agreement continues the first N tokens of each document that "
        "has at least N.",
        positive_int,
        metavar="N",
    ),
    Option(
        "--generate-tokens",
        "generate_tokens",
        "causal LMs: the greedy continuation's length, exactly N tokens.",
        positive_int,
        metavar="N",
    ),
    Option(
        "--snapshot-top-k",
        "snapshot_top_k",
        "causal LMs: the teacher's most likely tokens a snapshot keeps per scored position "
        "(token_kl against a snapshot is then a lower bound).",
        positive_int,
        metavar="K",
    ),
)
