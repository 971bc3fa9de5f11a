"""The teacher-forced pass of a causal-LM pair over documents, streamed.

Both models run over the same token ids batch by batch (each in its own batches: an ``int8:``
model one text at a time); at most ``chunk`` positions of float64 log-probabilities over the
vocabulary exist at once, reduced at once to :func:`~pytest_compressguard.metrics.tokens.
position_scores` and each model's top tokens. Nothing of size (positions x vocabulary)
outlives its chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_compressguard.core.errors import DataError
from pytest_compressguard.metrics import tokens

#: Positions whose float64 log-probabilities are held at once (x vocabulary x 8 bytes, x 2).
POSITION_CHUNK = 256
#: The most likely tokens kept per position and model, for failure messages.
TOP = 3
#: numpy releases the GIL in its array loops: the teacher's log-softmax runs beside the
#: student's.
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="compressguard-softmax")


@dataclass(frozen=True)
class DocumentScores:
    """A pair's per-position scores and, per position, each model's ``TOP`` most likely
    tokens (ids and probabilities, most likely first)."""

    scores: tokens.PositionScores
    teacher_top: np.ndarray
    teacher_top_p: np.ndarray
    student_top: np.ndarray
    student_top_p: np.ndarray


def _top(logp: np.ndarray, logits: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``TOP`` most likely ids per row (ties: the lower id first) and their
    probabilities, chosen on the float32 ``logits`` when given (the same order, half the
    bytes to partition)."""
    ids, _ = tokens.top_k(logp if logits is None else logits, TOP)
    return ids, np.exp(np.take_along_axis(logp, ids, axis=1))


def _logits(model: Any, ids: Sequence[np.ndarray]) -> list[np.ndarray]:
    """A model's logits for ``ids``, in its own batches."""
    out: list[np.ndarray] = []
    for batch in model.batches(ids):
        out.extend(model.logits([ids[i] for i in batch]))
    return out


def same_tokens(teacher: Any, student: Any, texts: Sequence[str]) -> list[np.ndarray]:
    """The teacher's token ids of ``texts``, once the student is known to give the same ids
    and as many logits (one sentence when not: token metrics need one tokenizer)."""
    ids = teacher.token_ids(texts)
    if teacher.vocabulary != student.vocabulary:
        raise DataError(
            f"{teacher.spec.text} and {student.spec.text} have vocabularies of "
            f"{teacher.vocabulary} and {student.vocabulary} tokens: token metrics need one "
            "tokenizer (the multiple-choice metrics do not)"
        )
    theirs = student.token_ids(texts)
    for i, (a, b) in enumerate(zip(ids, theirs, strict=True)):
        if not np.array_equal(a, b):
            raise DataError(
                f"{teacher.spec.text} and {student.spec.text} tokenize text {i} differently: "
                "token metrics need one tokenizer (the multiple-choice metrics do not)"
            )
    return ids


def score_documents(
    teacher: Any, student: Any, ids: Sequence[np.ndarray], *, chunk: int = POSITION_CHUNK
) -> DocumentScores:
    """Every next-token position of every text of ``ids`` scored for the pair (a text of n
    tokens has n - 1 positions)."""
    parts: list[tuple[np.ndarray, ...]] = []
    documents: list[np.ndarray] = []
    for batch in teacher.batches(ids):
        texts = [ids[i] for i in batch]
        for d, lt, ls in zip(batch, teacher.logits(texts), _logits(student, texts), strict=True):
            targets = ids[d][1:]
            for start in range(0, len(targets), chunk):
                stop = min(start + chunk, len(targets))
                both = _POOL.submit(tokens.softmax_pair, lt[start:stop])
                logp_s = tokens.log_softmax(ls[start:stop])
                logp_t, p_t = both.result()
                found = tokens.position_scores(logp_t, logp_s, targets[start:stop], p_t)
                tops = (*_top(logp_t, lt[start:stop]), *_top(logp_s, ls[start:stop]))
                parts.append((*found, *tops))
                documents.append(np.full(stop - start, d))
    return assemble(parts, documents, len(ids))


def assemble(
    parts: Sequence[tuple[np.ndarray, ...]], documents: Sequence[np.ndarray], texts: int
) -> DocumentScores:
    """The chunks' eight columns (KL, same top-1, both NLLs, both models' top ids and
    probabilities) and their texts' indices, concatenated."""
    if not parts:
        raise DataError("no text has two tokens: there is no next token to score")
    columns = [np.concatenate([p[k] for p in parts]) for k in range(8)]
    return DocumentScores(
        scores=tokens.PositionScores(
            *columns[:4], document=np.concatenate(documents), documents=texts
        ),
        teacher_top=columns[4],
        teacher_top_p=columns[5],
        student_top=columns[6],
        student_top_p=columns[7],
    )


def choice_sequences(
    model: Any, prompt: str, choices: Sequence[str]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each choice, the ids a model reads and the continuation ids it scores, as
    lm-evaluation-harness forms them: :func:`~pytest_compressguard.data.choices.split` with
    the tokenizer's ids and no special tokens, an empty context replaced by the BOS (else
    EOS) token, and context + continuation cut on the left to ``max_length + 1`` tokens."""
    from pytest_compressguard.data.choices import split

    tokenizer = model.tokenizer

    def encode(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])

    out = []
    for k, choice in enumerate(choices):
        context, continuation = split(prompt, choice, encode)
        if not continuation:
            raise DataError(f"choice {k} of the prompt {prompt[:60]!r} has no token")
        if not context:
            start = tokenizer.bos_token_id
            context = [start if start is not None else tokenizer.eos_token_id]
        whole = (context + continuation)[-(model.max_length + 1) :]
        out.append((np.asarray(whole[:-1], dtype=np.int64), np.asarray(continuation)))
    return out


def choice_logliks(
    model: Any, prompts: Sequence[str], choices: Sequence[Sequence[str]]
) -> list[np.ndarray]:
    """Each row's choices' sums of the log-probabilities (float64 log-softmax over the
    vocabulary) of their continuation tokens given the prompt (:func:`choice_sequences`)."""
    sequences, rows = [], []
    for row, (prompt, options) in enumerate(zip(prompts, choices, strict=True)):
        found = choice_sequences(model, prompt, options)
        sequences.extend(found)
        rows.extend([row] * len(found))
    inputs = [s[0] for s in sequences]
    sums = np.empty(len(sequences), dtype=np.float64)
    for batch in model.batches(inputs):
        for k, logits in zip(batch, model.logits([inputs[k] for k in batch]), strict=True):
            targets = sequences[k][1]
            logp = tokens.log_softmax(logits[-len(targets) :])
            sums[k] = logp[np.arange(len(targets)), targets].sum()
    grouped: list[list[float]] = [[] for _ in prompts]
    for row, value in zip(rows, sums, strict=True):
        grouped[row].append(value)
    return [np.asarray(g, dtype=np.float64) for g in grouped]


def continuations(
    model: Any, ids: Sequence[np.ndarray], prompt_tokens: int, generate: int
) -> tuple[np.ndarray, np.ndarray]:
    """Which texts have at least ``prompt_tokens`` tokens, and (N, ``generate``) the greedy
    continuation of each one's first ``prompt_tokens`` (-1 in the rows of the others)."""
    eligible = np.array([len(x) >= prompt_tokens for x in ids], dtype=bool)
    out = np.full((len(ids), generate), -1, dtype=np.int64)
    if eligible.any():
        prompts = np.stack([ids[i][:prompt_tokens] for i in np.flatnonzero(eligible)])
        out[eligible] = model.greedy(prompts, generate)
    return eligible, out
