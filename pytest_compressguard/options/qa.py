"""The models' task, and how extractive question answering windows, picks and scores answers."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_compressguard.models.qa import DOC_STRIDE, MAX_ANSWER_LENGTH, N_BEST, NULL_THRESHOLD
from pytest_compressguard.options.option import Option, table
from pytest_compressguard.options.values import number, positive_int, qa_error, task


@dataclass(frozen=True)
class QaPart:
    task: str | None = None
    doc_stride: int = DOC_STRIDE
    n_best: int = N_BEST
    max_answer_length: int = MAX_ANSWER_LENGTH
    null_threshold: float = NULL_THRESHOLD
    qa_error: str = "exact"


OPTIONS = table(
    QaPart,
    Option(
        "--task",
        "task",
        "what the models do: classification, qa (extractive question answering) or causal-lm; "
        "a *ForQuestionAnswering checkpoint, or an ONNX graph with start_logits and end_logits, "
        "answers questions; a *ForCausalLM checkpoint or a .gguf file is a causal LM.",
        task,
        unset="found from the teacher",
        metavar="classification|qa|causal-lm",
    ),
    Option(
        "--doc-stride",
        "doc_stride",
        "question answering: tokens shared by consecutive context windows.",
        positive_int,
        metavar="N",
    ),
    Option(
        "--n-best",
        "n_best",
        "question answering: start and end positions kept per window, and candidates per question.",
        positive_int,
        metavar="N",
    ),
    Option(
        "--max-answer-length",
        "max_answer_length",
        "question answering: the longest answer span, in tokens.",
        positive_int,
        metavar="N",
    ),
    Option(
        "--null-threshold",
        "null_threshold",
        "question answering: abstain when the null score minus the best span score is above this.",
        number,
        metavar="X",
    ),
    Option(
        "--qa-error",
        "qa_error",
        "question answering: an answer is an error when its exact match is 0 (exact) or its "
        "F1 is below 0.5 (f1).",
        qa_error,
        metavar="exact|f1",
    ),
)
