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

from .data import json_records, read_hf, read_json, read_rows
from .errors import DataError
from .models.qa import Question


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


def _from_squad(path: Path, document: dict[str, Any]) -> list[dict[str, Any]]:
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
                            "answers": [a["text"] for a in qa["answers"]],
                        }
                    )
    except (KeyError, TypeError) as exc:
        raise DataError(
            f"{path} is not SQuAD JSON: a question or paragraph lacks {exc} (expected "
            "data / paragraphs / context, qas / id / question / answers)"
        ) from None
    return rows


def _from_record(spec: str, number: int, row: dict[str, Any]) -> dict[str, Any]:
    missing = [key for key in ("question", "context", "answers") if key not in row]
    if missing:
        raise DataError(
            f"{spec}: example {number} has no {', '.join(map(repr, missing))} (a QA example "
            "needs id, question, context and answers)"
        )
    answers = row["answers"]
    texts = answers.get("text") if isinstance(answers, dict) else None
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


def load_questions(spec: str, *, max_examples: int | None = None, seed: int = 0) -> Questions:
    """Read QA examples; with ``max_examples``, keep a seeded sample of questions in source
    order."""
    if spec.startswith("hf:"):
        found, _ = read_hf(spec, spec[3:])
        rows = [_from_record(spec, i, row) for i, row in enumerate(found)]
    else:
        path = Path(spec).expanduser()
        suffix = path.suffix.lower()
        if suffix == ".json":
            document = read_json(path)
            if isinstance(document, dict) and "data" in document:
                rows = _from_squad(path, document)
            elif isinstance(document, dict):
                raise DataError(f"{spec}: expected SQuAD JSON (with 'data') or a list of records")
            else:
                found = json_records(path, document)
                rows = [_from_record(spec, i, row) for i, row in enumerate(found)]
        elif suffix == ".jsonl":
            found, _ = read_rows(path)
            rows = [_from_record(spec, i, row) for i, row in enumerate(found)]
        else:
            raise DataError(
                f"{spec}: QA data must be SQuAD JSON (.json), JSONL records (.jsonl) or "
                "hf:DATASET[:CONFIG]:SPLIT"
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
