"""Extractive-QA evaluation data: SQuAD JSON (v1.1 and v2.0), JSONL records, or a Hugging Face
dataset (``hf:rajpurkar/squad_v2:validation``) -> Questions.

A JSONL record (and a Hugging Face row) has ``id``, ``question``, ``context`` and ``answers``
as ``{"text": [...], "answer_start": [...]}`` (empty lists for an unanswerable question), the
layout of the ``squad_v2`` dataset; SQuAD JSON nests questions under ``data`` / ``paragraphs``
/ ``qas`` with ``answers`` as a list of ``{"text", "answer_start"}``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pytest_compressguard.core.errors import DataError
from pytest_compressguard.core.types import Question
from pytest_compressguard.data.texts import json_records, read_hf, read_json, read_rows


@dataclass(frozen=True)
class Questions:
    """QA examples and their gold answers (an empty tuple: unanswerable), in source order."""

    spec: str
    ids: tuple[str, ...]
    questions: tuple[Question, ...]
    answers: tuple[tuple[str, ...], ...]
    fingerprint: str

    def __len__(self) -> int:
        return len(self.questions)


def _from_squad(path: Path, document: dict[str, Any], answers: bool) -> list[dict[str, Any]]:
    rows = []
    try:
        for article in document["data"]:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    rows.append(
                        {
                            "id": qa["id"],
                            "question": qa["question"],
                            "context": paragraph["context"],
                            "answers": [a["text"] for a in qa["answers"]]
                            if answers or "answers" in qa
                            else [],
                        }
                    )
    except (KeyError, TypeError) as exc:
        raise DataError(
            f"{path} is not SQuAD JSON: a question or paragraph lacks {exc} (expected "
            "data / paragraphs / context, qas / id / question / answers)"
        ) from None
    return rows


def _from_record(spec: str, number: int, row: dict[str, Any], answers: bool) -> dict[str, Any]:
    needed = ("question", "context", "answers") if answers else ("question", "context")
    missing = [key for key in needed if key not in row]
    if missing:
        raise DataError(
            f"{spec}: example {number} has no {', '.join(map(repr, missing))} (a QA example "
            "needs id, question, context and answers)"
        )
    gold = row.get("answers", {"text": []})
    texts = gold.get("text") if isinstance(gold, dict) else None
    if not isinstance(texts, list):
        raise DataError(
            f'{spec}: example {number}: answers must be {{"text": [...], "answer_start": '
            "[...]}} (empty lists for an unanswerable question)"
        )
    return {
        "id": str(row.get("id", number)),
        "question": row["question"],
        "context": row["context"],
        "answers": texts,
    }


def load_questions(
    spec: str, *, max_examples: int | None = None, seed: int = 0, answers: bool = True
) -> Questions:
    """Read QA examples; with ``max_examples``, keep a seeded sample of questions in source
    order. Without ``answers`` (an OOD bank or candidates), gold answers may be absent."""
    if spec.startswith("hf:"):
        found, _ = read_hf(spec, spec[3:])
        rows = [_from_record(spec, i, row, answers) for i, row in enumerate(found)]
    else:
        path = Path(spec).expanduser()
        suffix = path.suffix.lower()
        if suffix == ".json":
            document = read_json(path)
            if isinstance(document, dict) and "data" in document:
                rows = _from_squad(path, document, answers)
            elif isinstance(document, dict):
                raise DataError(f"{spec}: expected SQuAD JSON (with 'data') or a list of records")
            else:
                found = json_records(path, document)
                rows = [_from_record(spec, i, row, answers) for i, row in enumerate(found)]
        elif suffix == ".jsonl":
            found, _ = read_rows(path)
            rows = [_from_record(spec, i, row, answers) for i, row in enumerate(found)]
        else:
            raise DataError(
                f"{spec}: the models answer questions, and question-answering data must be "
                "SQuAD JSON (.json), JSONL records (.jsonl) or hf:DATASET[:CONFIG]:SPLIT"
            )
    if not rows:
        raise DataError(f"{spec} holds no questions")
    if max_examples is not None and max_examples < len(rows):
        keep = np.sort(np.random.default_rng(seed).choice(len(rows), max_examples, replace=False))
        rows = [rows[i] for i in keep]
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps([row["question"], row["context"], row["answers"]]).encode())
    return Questions(
        spec=spec,
        ids=tuple(str(r["id"]) for r in rows),
        questions=tuple(Question(str(r["question"]), str(r["context"])) for r in rows),
        answers=tuple(tuple(str(a) for a in r["answers"]) for r in rows),
        fingerprint=digest.hexdigest(),
    )


def looks_like_qa(spec: str) -> bool:
    """Whether a data file holds question-answering examples (SQuAD JSON, or records with a
    question and a context): read only to explain why a classifier cannot use it."""
    path = Path(spec).expanduser()
    try:
        if path.suffix.lower() == ".json":
            document = read_json(path)
            if isinstance(document, dict):
                return "data" in document
            first = document[0] if isinstance(document, list) and document else None
        elif path.suffix.lower() == ".jsonl":
            with path.open(encoding="utf-8") as lines:
                first = json.loads(next((line for line in lines if line.strip()), "null"))
        else:
            return False
    except (DataError, OSError, ValueError):
        return False
    return isinstance(first, dict) and {"question", "context"} <= first.keys()
