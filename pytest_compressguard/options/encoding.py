"""How texts become model inputs: the tokenizer, the batch size and the max length."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_compressguard.models.base import BATCH_SIZE, MAX_LENGTH
from pytest_compressguard.models.causal_lm import LM_BATCH_SIZE, LM_MAX_LENGTH
from pytest_compressguard.models.qa import QA_MAX_LENGTH
from pytest_compressguard.options.option import Option, table
from pytest_compressguard.options.values import positive_int
from pytest_compressguard.tasks import get


@dataclass(frozen=True)
class EncodingPart:
    tokenizer: str | None = None
    batch_size: int = BATCH_SIZE
    max_length: int | None = None

    def length(self, task: str) -> int:
        """The max length in tokens: the option's, else the default of the task so named."""
        return get(task).max_length(self)


OPTIONS = table(
    EncodingPart,
    Option(
        "--tokenizer",
        "tokenizer",
        "tokenizer (directory or Hub id) for ONNX models without tokenizer files beside them.",
        metavar="SPEC",
    ),
    Option(
        "--batch-size",
        "batch_size",
        f"examples per forward pass (causal LMs: texts, {LM_BATCH_SIZE} when this is left "
        f"at {BATCH_SIZE}).",
        positive_int,
        metavar="N",
    ),
    Option(
        "--max-length",
        "max_length",
        "truncate inputs to N tokens (question answering: the length of a context window).",
        positive_int,
        unset=(
            f"{MAX_LENGTH} ({QA_MAX_LENGTH} for question answering, {LM_MAX_LENGTH} for causal LMs)"
        ),
        metavar="N",
    ),
)
