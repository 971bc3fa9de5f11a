"""Shared fixtures: tiny models trained in seconds; no network anywhere in the suite."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before anything imports huggingface_hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from dataclasses import dataclass
from pathlib import Path

import faiss  # noqa: F401  imported once here: pytester's in-process runs drop modules first
import pytest

from tests import tiny


@dataclass(frozen=True)
class TinyModels:
    teacher: Path  # 2-layer BERT, labels negative/positive
    student: Path  # 1-layer BERT trained less: a weaker student
    onnx: Path  # the teacher exported to ONNX, tokenizer and config beside it
    dev: Path  # 120 labelled sentences, labels as names
    dev_rows: list[tuple[str, int]]
    train: Path  # 300 labelled sentences of the same task: the in-distribution bank
    ood: Path  # 40 texts: half of words the models never saw, half without sentiment words
    ood_texts: list[str]
    mlm: Path  # a 1-layer masked LM over the same vocabulary: the attack's substitutes
    cache: Path


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    root = tmp_path_factory.mktemp("tiny")
    teacher = tiny.train_classifier(root / "teacher", layers=2, hidden=32, steps=120, seed=0)
    student = tiny.train_classifier(root / "student", layers=1, hidden=16, steps=100, seed=1)
    rows = tiny.examples(120, seed=99)
    ood = tiny.ood_texts(40, seed=98)
    return TinyModels(
        teacher=teacher,
        student=student,
        onnx=tiny.export_onnx(teacher, root / "onnx"),
        dev=tiny.write_csv(root / "dev.csv", rows),
        dev_rows=rows,
        train=tiny.write_csv(root / "train.csv", tiny.examples(300, seed=97)),
        ood=tiny.write_csv(root / "ood.csv", [(text, 0) for text in ood]),
        ood_texts=ood,
        mlm=tiny.train_mlm(root / "mlm"),
        cache=root / "cache",
    )


@dataclass(frozen=True)
class PairModels:
    teacher: Path  # 2-layer BERT on the pair task (tiny.pair_examples), labels by name
    student: Path  # 1-layer BERT trained less
    onnx: Path  # the teacher exported to ONNX, with its token_type_ids input
    dev: Path  # 90 labelled pairs, columns premise / hypothesis / label
    dev_rows: list[tuple[str, str, int]]
    challenge: Path  # a second eval set: 60 other pairs, as JSONL
    challenge_rows: list[tuple[str, str, int]]
    train: Path  # 200 pairs: the Deep-KNN bank
    ood: Path  # 30 pairs of words the models never saw
    cache: Path


@pytest.fixture(scope="session")
def pair_models(tmp_path_factory: pytest.TempPathFactory) -> PairModels:
    root = tmp_path_factory.mktemp("pairs")
    teacher = tiny.train_classifier(
        root / "teacher", layers=2, hidden=32, steps=120, seed=0, pairs=True
    )
    student = tiny.train_classifier(
        root / "student", layers=1, hidden=16, steps=60, seed=1, pairs=True
    )
    rows, challenge = tiny.pair_examples(90, seed=99), tiny.pair_examples(60, seed=98)
    odd = tiny.ood_texts(60, seed=96)
    return PairModels(
        teacher=teacher,
        student=student,
        onnx=tiny.export_onnx(teacher, root / "onnx"),
        dev=tiny.write_pairs(root / "dev.csv", rows),
        dev_rows=rows,
        challenge=tiny.write_pairs(root / "challenge.jsonl", challenge),
        challenge_rows=challenge,
        train=tiny.write_pairs(root / "train.csv", tiny.pair_examples(200, seed=97)),
        ood=tiny.write_pairs(
            root / "ood.csv", [(a, b, 0) for a, b in zip(odd[:30], odd[30:], strict=True)]
        ),
        cache=root / "cache",
    )


@dataclass(frozen=True)
class QAModels:
    teacher: Path  # 2-layer BertForQuestionAnswering on tiny.qa_examples (EM about 0.9)
    student: Path  # 1-layer, trained less: a weaker student (EM about 0.5)
    dev: Path  # 60 questions as SQuAD 2.0 JSON (about 40% unanswerable)
    dev_rows: list[tuple[str, str, str]]
    train: Path  # 150 questions as JSONL: the Deep-KNN bank
    ood: Path  # 30 questions over contexts of words the models never saw, JSONL, no answers
    cache: Path


@pytest.fixture(scope="session")
def qa_models(tmp_path_factory: pytest.TempPathFactory) -> QAModels:
    root = tmp_path_factory.mktemp("qa")
    teacher = tiny.train_qa(root / "teacher", layers=2, hidden=32, steps=800, seed=0)
    student = tiny.train_qa(root / "student", layers=1, hidden=32, steps=300, seed=1)
    rows = tiny.qa_examples(60, seed=99, words=(4, 30))
    odd = tiny.ood_texts(60, seed=96)
    return QAModels(
        teacher=teacher,
        student=student,
        dev=tiny.write_squad(root / "dev.json", rows),
        dev_rows=rows,
        train=tiny.write_qa_jsonl(root / "train.jsonl", tiny.qa_examples(150, seed=97)),
        ood=tiny.write_qa_jsonl(
            root / "ood.jsonl",
            [("what", f"{a} {b}", "") for a, b in zip(odd[:30], odd[30:], strict=True)],
            answers=False,
        ),
        cache=root / "cache",
    )


@pytest.fixture
def encode_calls(monkeypatch):
    """The spec of each model pass over texts made in this process, in order."""
    from pytest_compressguard.models.base import BatchedModel

    calls = []
    original = BatchedModel.encode

    def counting(self, texts, **kwargs):
        calls.append(self.spec.text)
        return original(self, texts, **kwargs)

    monkeypatch.setattr(BatchedModel, "encode", counting)
    return calls


@pytest.fixture(scope="session")
def lms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny Llamas (a teacher, an identical copy, a noisy student), documents and a
    multiple-choice set (see tests.lm_reference)."""
    from tests import lm_reference

    return lm_reference.build(tmp_path_factory.mktemp("lm"))
