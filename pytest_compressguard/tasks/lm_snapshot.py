"""A causal-LM teacher's snapshot of documents, and a student scored against it.

Per scored position a snapshot keeps the teacher's ``k`` most likely tokens (int32 ids,
float32 log-probabilities, most likely first; ties: the lower id), the float64
log-probability of the text's own next token, and per text its token ids: about
``8 k + 8`` bytes per position (1 KiB at k = 128), where llama.cpp's base-logits file keeps
2 bytes per vocabulary entry (96 KiB per position for a 49k vocabulary). Against it,
``token_kl`` is the KL over those k tokens plus one bucket for the rest of the mass
(:func:`~pytest_compressguard.metrics.tokens.top_k_kl`: a lower bound, exact when k is the
vocabulary); top-1 agreement, perplexity and the greedy continuations are the teacher's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pytest_compressguard.core.errors import DataError
from pytest_compressguard.metrics import tokens
from pytest_compressguard.tasks.lm_scoring import (
    POSITION_CHUNK,
    TOP,
    DocumentScores,
    _top,
    assemble,
)


def teacher_record(
    model: Any, ids: Sequence[np.ndarray], k: int, *, chunk: int = POSITION_CHUNK
) -> dict[str, np.ndarray]:
    """What a snapshot keeps of a causal LM on documents (see the module docstring)."""
    top_ids, top_logp, target = [], [], []
    for batch in model.batches(ids):
        for d, logits in zip(batch, model.logits([ids[i] for i in batch]), strict=True):
            targets = ids[d][1:]
            for start in range(0, len(targets), chunk):
                stop = min(start + chunk, len(targets))
                logp = tokens.log_softmax(logits[start:stop])
                found_ids, found_logp = tokens.top_k(logp, k)
                top_ids.append(found_ids.astype(np.int32))
                top_logp.append(found_logp.astype(np.float32))
                target.append(logp[np.arange(stop - start), targets[start:stop]])
    return {
        "ids": np.concatenate(ids).astype(np.int32),
        "lengths": np.array([len(x) for x in ids], dtype=np.int64),
        "top_ids": np.concatenate(top_ids),
        "top_logp": np.concatenate(top_logp),
        "target_logp": np.concatenate(target),
        "vocabulary": np.array([model.vocabulary], dtype=np.int64),
    }


def recorded_ids(record: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Each text's token ids as the snapshot's teacher tokenized it."""
    ends = np.cumsum(record["lengths"])
    return [x.astype(np.int64) for x in np.split(record["ids"], ends[:-1])]


def check_student(record: dict[str, np.ndarray], student: Any, texts: Sequence[str]) -> None:
    """The student must have the snapshot teacher's vocabulary and token ids (one sentence
    when not: token metrics need one tokenizer)."""
    vocabulary = int(record["vocabulary"][0])
    if vocabulary != student.vocabulary:
        raise DataError(
            f"the snapshot's teacher has a vocabulary of {vocabulary} tokens and "
            f"{student.spec.text} one of {student.vocabulary}: token metrics need one tokenizer "
            "(the multiple-choice metrics do not)"
        )
    for i, (a, b) in enumerate(zip(recorded_ids(record), student.token_ids(texts), strict=True)):
        if not np.array_equal(a, b):
            raise DataError(
                f"the snapshot's teacher and {student.spec.text} tokenize text {i} differently: "
                "token metrics need one tokenizer (the multiple-choice metrics do not)"
            )


def score_against(
    record: dict[str, np.ndarray], student: Any, *, chunk: int = POSITION_CHUNK
) -> DocumentScores:
    """Every next-token position of the recorded texts scored for the student against the
    snapshot's teacher (KL over its top k and the rest: a lower bound)."""
    ids = recorded_ids(record)
    first = np.concatenate([[0], np.cumsum([len(x) - 1 for x in ids])])
    parts: list[tuple[np.ndarray, ...]] = []
    documents: list[np.ndarray] = []
    for batch in student.batches(ids):
        for d, logits in zip(batch, student.logits([ids[i] for i in batch]), strict=True):
            targets = ids[d][1:]
            for start in range(0, len(targets), chunk):
                stop = min(start + chunk, len(targets))
                at = slice(first[d] + start, first[d] + stop)
                logp_s = tokens.log_softmax(logits[start:stop])
                top_ids, top_logp = record["top_ids"][at], record["top_logp"][at]
                parts.append(
                    (
                        tokens.top_k_kl(top_logp, top_ids, logp_s),
                        logp_s.argmax(axis=1) == top_ids[:, 0],
                        -record["target_logp"][at],
                        -logp_s[np.arange(stop - start), targets[start:stop]],
                        top_ids[:, :TOP].astype(np.int64),
                        np.exp(top_logp[:, :TOP].astype(np.float64)),
                        *_top(logp_s),
                    )
                )
                documents.append(np.full(stop - start, d))
    return assemble(parts, documents, len(ids))
