"""Causal language models: a quantized or distilled LM against its original, per token on
documents and per answer on multiple-choice sets.

An eval set with a ``--choices-column`` is multiple choice: each choice is scored by the sum
of its tokens' log-probabilities given the prompt, and the softmax over a row's choices is
its class distribution, so the classification pair outputs (and every prediction metric)
apply unchanged. Any other eval set holds documents, scored at every next-token position
(:mod:`~pytest_compressguard.tasks.lm_outputs`). A text's embedding is the mean of the last
hidden state over its tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pytest_compressguard.core.errors import DataError, MissingOutputError
from pytest_compressguard.core.types import Encoded
from pytest_compressguard.data.choices import MultipleChoice
from pytest_compressguard.metrics.tokens import choice_probabilities
from pytest_compressguard.models.base import BATCH_SIZE, Model
from pytest_compressguard.models.causal_lm import LM_BATCH_SIZE, LM_MAX_LENGTH
from pytest_compressguard.models.resolve import Signature
from pytest_compressguard.tasks import lm_scoring, lm_snapshot
from pytest_compressguard.tasks.base import Store, Task
from pytest_compressguard.tasks.classification import PairOutputs
from pytest_compressguard.tasks.lm_outputs import DocumentPairOutputs


def _flat(rows: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Ragged rows as one flat array and each row's length (a cache entry's arrays)."""
    return {
        "values": np.concatenate(rows) if rows else np.zeros(0),
        "lengths": np.array([len(r) for r in rows], dtype=np.int64),
    }


def _rows(arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The ragged rows of :func:`_flat`."""
    ends = np.cumsum(arrays["lengths"])
    return np.split(arrays["values"], ends[:-1]) if len(ends) else []


class CausalLM(Task):
    """Causal LMs (``*ForCausalLM`` checkpoints, ``.gguf`` files, ONNX graphs whose
    ``logits`` are per token)."""

    name = "causal-lm"
    does = "is a causal language model"
    #: Metrics of one model beside the pairwise matrices (of a multiple-choice set).
    own_metrics = ("accuracy", "ece")
    report_sections = frozenset({"scatter", "confusion", "tokens"})
    per_class_caption = "Accuracy on each right-choice index (its number of rows in brackets)."
    max_length_default = LM_MAX_LENGTH
    undefined = "{metric} is defined for question answering only (--task qa)"
    not_attacked = (
        "the attack metrics are defined for classifiers: the attacks of the papers this plugin "
        "follows change a text until a class flips, and a causal LM has no class of a text"
    )

    def detects(self, signature: Signature) -> bool:
        return (
            signature.kind == "gguf"
            or signature.logits_rank == 3
            or any(a.endswith("ForCausalLM") for a in signature.architectures)
        )

    def batch_size(self, settings: Any) -> int:
        """``--batch-size`` when changed from its default, else :data:`LM_BATCH_SIZE` (a
        batch's logits are texts x tokens x vocabulary floats)."""
        given = int(settings.batch_size)
        return LM_BATCH_SIZE if given == BATCH_SIZE else given

    def output_settings(self, settings: Any) -> dict[str, Any]:
        return {
            "prompt_tokens": settings.prompt_tokens,
            "generate_tokens": settings.generate_tokens,
        }

    def load(self, spec: str, settings: Any, cache_dir: Path | None) -> Model:
        from pytest_compressguard.models.causal_lm import load_causal_lm
        from pytest_compressguard.models.spec import parse_spec

        s = settings
        return load_causal_lm(
            parse_spec(spec),
            batch_size=self.batch_size(s),
            max_length=self.max_length(s),
            device=s.device,
            tokenizer=s.tokenizer,
            cache_dir=cache_dir,
        )

    def read(self, role: str, spec: str, settings: Any) -> Any:
        from pytest_compressguard.data.choices import load_choices
        from pytest_compressguard.data.texts import load_dataset, read_table

        s = settings
        if role == "eval" and s.choices_column in read_table(spec)[1]:
            return load_choices(
                spec,
                text_column=s.text_column,
                choices_column=s.choices_column,
                label_column=s.label_column,
                max_examples=s.max_examples,
                seed=s.seed,
            )
        return load_dataset(
            spec,
            text_column=s.text_column,
            max_examples=s.max_examples if role == "eval" else None,
            seed=s.seed,
            labels="ignored",
        )

    def vectors(
        self, store: Store, model: Model, data: Any, settings: Any, *, eval_data: bool = False
    ) -> np.ndarray:
        if model.spec.kind == "snapshot" and isinstance(data, MultipleChoice):
            found = model.arrays(data)  # type: ignore[attr-defined]
            if "embeddings" not in found:
                raise MissingOutputError(model.missing["embeddings"])
            return found["embeddings"].astype(np.float32)  # type: ignore[no-any-return]
        return store.embeddings(model, data)  # type: ignore[no-any-return]

    # -- multiple choice -------------------------------------------------------------------

    def choice_logliks(
        self, store: Any, model: Model, data: MultipleChoice, settings: Any
    ) -> list[np.ndarray]:
        """Each row's choices' log-likelihoods under ``model``, computed once."""
        if model.spec.kind == "snapshot":
            return _rows(model.arrays(data))  # type: ignore[attr-defined]
        found = store.arrays(
            model,
            "choices",
            data.fingerprint,
            {"max_length": self.max_length(settings)},
            lambda: _flat(lm_scoring.choice_logliks(model, data.prompts, data.choices)),
        )
        return _rows(found)

    def choice_probabilities(
        self, store: Any, model: Model, data: MultipleChoice, settings: Any
    ) -> np.ndarray:
        """(N, C) the softmax over each row's choices (zero where a row has fewer)."""
        return choice_probabilities(self.choice_logliks(store, model, data, settings))

    # -- documents -------------------------------------------------------------------------

    def continuations(
        self, store: Any, model: Model, data: Any, ids: Sequence[np.ndarray], settings: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Which texts are long enough, and ``model``'s greedy continuations, computed once."""
        s = settings
        if model.spec.kind == "snapshot":
            found = model.arrays(data)  # type: ignore[attr-defined]
            return found["eligible"].astype(bool), found["generated"]

        def compute() -> dict[str, np.ndarray]:
            eligible, found = lm_scoring.continuations(
                model, ids, s.prompt_tokens, s.generate_tokens
            )
            return {"eligible": eligible, "tokens": found}

        found = store.arrays(
            model,
            "greedy",
            data.texts_fingerprint,
            {
                "max_length": self.max_length(s),
                "prompt_tokens": s.prompt_tokens,
                "generate_tokens": s.generate_tokens,
            },
            compute,
        )
        return found["eligible"].astype(bool), found["tokens"]

    def documents(
        self, store: Any, teacher: Model, student: Model, data: Any, settings: Any
    ) -> DocumentPairOutputs:
        """The pair's token scores and greedy continuations on documents."""
        for i, text in enumerate(data.texts):
            if not text.strip():
                raise DataError(f"{data.spec}: text {i} is empty: a document needs tokens")
        if teacher.spec.kind == "snapshot":
            record = teacher.arrays(data)  # type: ignore[attr-defined]
            lm_snapshot.check_student(record, student, data.texts)
            ids = lm_snapshot.recorded_ids(record)
        else:
            ids = lm_scoring.same_tokens(teacher, student, data.texts)
        for i, x in enumerate(ids):
            if len(x) < 2:
                raise DataError(
                    f"{data.spec}: text {i} has {len(x)} token{'' if len(x) == 1 else 's'}: a "
                    "document needs two to score a next token"
                )
        eligible, teacher_generated = self.continuations(store, teacher, data, ids, settings)
        _, student_generated = self.continuations(store, student, data, ids, settings)
        tokenizer = getattr(student, "tokenizer", None) or teacher.tokenizer  # type: ignore[attr-defined]
        if teacher.spec.kind == "snapshot":
            scores = lm_snapshot.score_against(record, student)
        else:
            scores = lm_scoring.score_documents(teacher, student, ids)
        return DocumentPairOutputs(
            scores=scores,
            ids=tuple(ids),
            texts=tuple(data.texts),
            eligible=eligible,
            teacher_generated=teacher_generated,
            student_generated=student_generated,
            decode=lambda t: tokenizer.decode(list(t)),
            prompt_tokens=settings.prompt_tokens,
        )

    def predictions(
        self, store: Store, teacher: Model, student: Model, data: Any, settings: Any
    ) -> Any:
        if isinstance(data, MultipleChoice):
            return PairOutputs(
                teacher=self.choice_probabilities(store, teacher, data, settings),
                student=self.choice_probabilities(store, student, data, settings),
                labels=data.labels,
                texts=data.prompts,
            )
        return self.documents(store, teacher, student, data, settings)

    def snapshot_entry(
        self, store: Store, model: Model, role: str, data: Any, settings: Any
    ) -> dict[str, Any]:
        """A document set's top-k record, greedy continuations and embeddings (see
        :mod:`~pytest_compressguard.tasks.lm_snapshot`); a multiple-choice set's choice
        log-likelihoods and embeddings; the embeddings of a train or OOD set."""
        keep = settings.snapshot_embeddings != "none"
        vectors = {"embeddings": self.vectors(store, model, data, settings)} if keep else {}
        if role != "eval":
            return {
                "fingerprint": data.texts_fingerprint,
                "encoded": Encoded(None, vectors["embeddings"]),
            }
        if isinstance(data, MultipleChoice):
            found = _flat(self.choice_logliks(store, model, data, settings))
        elif model.spec.kind == "snapshot":
            found = dict(model.arrays(data))  # type: ignore[attr-defined]
            found.pop("embeddings", None)
        else:
            ids = model.token_ids(data.texts)  # type: ignore[attr-defined]
            found = lm_snapshot.teacher_record(model, ids, settings.snapshot_top_k)
            eligible, generated = self.continuations(store, model, data, ids, settings)
            found |= {"eligible": eligible, "generated": generated}
        return {"fingerprint": data.fingerprint, "arrays": {**found, **vectors}}

    def pairwise_inputs(
        self, store: Store, models: Sequence[Model], data: Any, settings: Any
    ) -> tuple[dict[str, Any], dict[str, str]]:
        given: dict[str, Any] = {"probabilities": None, "labels": None, "embeddings": None}
        reasons: dict[str, str] = {}
        if isinstance(data, MultipleChoice):
            given["labels"] = data.labels
            given["probabilities"] = [
                self.choice_probabilities(store, m, data, settings) for m in models
            ]
        else:
            reasons["predictions"] = (
                f"the pairwise matrices are of a multiple-choice set; {data.spec} holds documents"
            )
        given["embeddings"] = [store.embeddings(m, data) for m in models]
        return given, reasons


CAUSAL_LM = CausalLM()
