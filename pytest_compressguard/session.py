"""Per-session state: loaded models, the dataset, outputs computed once, comparisons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .comparison import Comparison, PairOutputs
from .data import Dataset, load_dataset
from .errors import CompressGuardError, DataError, ModelLoadError
from .models.base import Model, align_labels
from .options import Settings


class SessionState:
    """Everything one pytest session shares; each model runs over the dataset at most once."""

    def __init__(self, settings: Settings, cache_dir: Path | None) -> None:
        self.settings = settings
        self.cache_dir = cache_dir
        self.current_test: str | None = None
        self.comparisons: dict[str, Comparison] = {}
        self.worker_records: list[dict[str, Any]] = []
        self._models: dict[str, Model | CompressGuardError] = {}
        self._dataset: Dataset | CompressGuardError | None = None
        self._probs: dict[tuple[str, str], np.ndarray] = {}

    def model(self, spec: str) -> Model:
        """The model a spec names, loaded once (a load error is kept and raised again)."""
        if spec not in self._models:
            from .models.resolve import load_model

            s = self.settings
            try:
                self._models[spec] = load_model(
                    spec,
                    batch_size=s.batch_size,
                    max_length=s.max_length,
                    device=s.device,
                    tokenizer=s.tokenizer,
                    cache_dir=self.cache_dir,
                )
            except CompressGuardError as exc:
                self._models[spec] = exc
        found = self._models[spec]
        if isinstance(found, CompressGuardError):
            raise found
        return found

    def dataset(self) -> Dataset:
        """The evaluation dataset, read once."""
        if self._dataset is None:
            s = self.settings
            try:
                if s.eval_data is None:
                    raise DataError("no evaluation data: pass --eval-data")
                self._dataset = load_dataset(
                    s.eval_data,
                    text_column=s.text_column,
                    label_column=s.label_column,
                    max_examples=s.max_examples,
                    seed=s.seed,
                )
            except CompressGuardError as exc:
                self._dataset = exc
        if isinstance(self._dataset, CompressGuardError):
            raise self._dataset
        return self._dataset

    def probabilities(self, model: Model, dataset: Dataset) -> np.ndarray:
        """The model's class probabilities on the dataset, computed once per session."""
        key = (model.spec.text, dataset.fingerprint)
        if key not in self._probs:
            probs = model.predict_proba(dataset.texts)
            if probs.shape != (len(dataset), model.num_labels) or not np.isfinite(probs).all():
                raise ModelLoadError(
                    f"{model.spec.text} gave outputs of shape {probs.shape} with "
                    f"{int((~np.isfinite(probs)).sum())} non-finite values"
                )
            self._probs[key] = probs
        return self._probs[key]

    def comparison(self, teacher: Model, student: Model) -> Comparison:
        """The comparison of a student with the teacher on the eval data, made once."""
        key = student.spec.text
        if key not in self.comparisons:
            dataset = self.dataset()
            pair = f"{teacher.spec.text} vs {student.spec.text}"

            def load() -> PairOutputs:
                order = align_labels(
                    teacher.labels, teacher.num_labels, student.labels, student.num_labels, pair
                )
                labels = dataset.label_indices(teacher.labels, teacher.num_labels)
                return PairOutputs(
                    teacher=self.probabilities(teacher, dataset),
                    student=self.probabilities(student, dataset)[:, order],
                    labels=labels,
                    texts=dataset.texts,
                    label_names=teacher.labels,
                )

            self.comparisons[key] = Comparison(
                teacher.spec.text,
                student.spec.text,
                dataset.spec,
                load,
                current_test=lambda: self.current_test,
            )
        return self.comparisons[key]

    def records(self) -> list[dict[str, Any]]:
        """This process's comparisons plus those sent by xdist workers, merged per pair."""
        merged: dict[tuple[str, str, str], dict[str, Any]] = {}
        own = [c.record() for c in self.comparisons.values()]
        for record in [*own, *self.worker_records]:
            key = (record["teacher"], record["student"], record["dataset"])
            if key not in merged:
                merged[key] = {
                    **record,
                    "metrics": dict(record["metrics"]),
                    "checks": list(record["checks"]),
                }
                continue
            into = merged[key]
            into["metrics"].update(record["metrics"])
            into["checks"].extend(record["checks"])
            if into.get("n") is None:
                into["n"] = record.get("n")
        for record in merged.values():
            record["checks"].sort(key=lambda c: c.get("test") or "")  # stable: call order
        return list(merged.values())
