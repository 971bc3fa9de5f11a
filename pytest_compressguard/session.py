"""Per-session state: loaded models, the dataset, outputs computed once, comparisons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .comparison import Comparison, OodInputs, PairEmbeddings, PairOutputs
from .data import Dataset, load_dataset
from .errors import CompressGuardError, DataError, MissingOutputError, ModelLoadError
from .models.base import Encoded, Model, align_labels
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
        self._datasets: dict[str, Dataset | CompressGuardError] = {}
        self._encoded: dict[tuple[str, str], Encoded] = {}

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
                    pooling=s.pooling,
                    embedding_output=s.embedding_output,
                )
            except CompressGuardError as exc:
                self._models[spec] = exc
        found = self._models[spec]
        if isinstance(found, CompressGuardError):
            raise found
        return found

    def _data(self, role: str) -> Dataset:
        """The eval, train or OOD dataset, read once (a read error is kept and raised again)."""
        if role not in self._datasets:
            s = self.settings
            spec = {"eval": s.eval_data, "train": s.train_data, "ood": s.ood_data}[role]
            try:
                if spec is None:
                    raise DataError(f"no {role} data: pass --{role}-data")
                self._datasets[role] = load_dataset(
                    spec,
                    text_column=s.text_column,
                    label_column=s.label_column,
                    max_examples=s.max_examples if role == "eval" else None,
                    seed=s.seed,
                    labels="optional" if role == "eval" else "ignored",
                )
            except CompressGuardError as exc:
                self._datasets[role] = exc
        found = self._datasets[role]
        if isinstance(found, CompressGuardError):
            raise found
        return found

    def dataset(self) -> Dataset:
        """The evaluation dataset (gold labels optional: only prediction metrics need them)."""
        return self._data("eval")

    def encoded(self, model: Model, dataset: Dataset, *, probabilities: bool) -> Encoded:
        """The model's outputs on the dataset, computed once per session: embeddings when the
        model gives them, and (when asked) probabilities from the same pass."""
        key = (model.spec.text, dataset.texts_fingerprint)
        want_probs = probabilities and "probabilities" not in model.missing
        want_vectors = "embeddings" not in model.missing
        found = self._encoded.get(key)
        if found is None or (want_probs and found.probabilities is None):
            found = model.encode(dataset.texts, probabilities=want_probs, embeddings=want_vectors)
            self._validate(model, dataset, found)
            self._encoded[key] = found
        return found

    def _validate(self, model: Model, dataset: Dataset, found: Encoded) -> None:
        for name, array, width in (
            ("probabilities", found.probabilities, model.num_labels),
            ("embeddings", found.embeddings, None),
        ):
            if array is None:
                continue
            bad_shape = array.ndim != 2 or len(array) != len(dataset)
            if bad_shape or (width is not None and array.shape[1] != width):
                raise ModelLoadError(
                    f"{model.spec.text} gave {name} of shape {array.shape} for {len(dataset)} texts"
                )
            if not np.isfinite(array).all():
                raise ModelLoadError(
                    f"{model.spec.text} gave {int((~np.isfinite(array)).sum())} non-finite "
                    f"{name} on {dataset.spec}"
                )

    def _require(self, model: Model, dataset: Dataset, output: str) -> np.ndarray:
        found = getattr(
            self.encoded(model, dataset, probabilities=output == "probabilities"), output
        )
        if found is None:
            raise MissingOutputError(
                model.missing.get(output, f"{model.spec.text} gave no {output}")
            )
        return found

    def probabilities(self, model: Model, dataset: Dataset) -> np.ndarray:
        """The model's class probabilities on the dataset, computed once per session."""
        return self._require(model, dataset, "probabilities")

    def embeddings(self, model: Model, dataset: Dataset) -> np.ndarray:
        """The model's (N, H) embeddings of the dataset, computed once per session."""
        return self._require(model, dataset, "embeddings")

    def comparison(self, teacher: Model, student: Model) -> Comparison:
        """The comparison of a student with the teacher on the eval data, made once."""
        key = student.spec.text
        if key not in self.comparisons:
            dataset = self.dataset()
            pair = f"{teacher.spec.text} vs {student.spec.text}"

            def predictions() -> PairOutputs:
                p_teacher = self.probabilities(teacher, dataset)
                p_student = self.probabilities(student, dataset)
                assert teacher.num_labels is not None and student.num_labels is not None
                order = align_labels(
                    teacher.labels, teacher.num_labels, student.labels, student.num_labels, pair
                )
                return PairOutputs(
                    teacher=p_teacher,
                    student=p_student[:, order],
                    labels=dataset.label_indices(teacher.labels, teacher.num_labels),
                    texts=dataset.texts,
                    label_names=teacher.labels,
                )

            def embeddings() -> PairEmbeddings:
                return PairEmbeddings(
                    teacher=self.embeddings(teacher, dataset),
                    student=self.embeddings(student, dataset),
                    texts=dataset.texts,
                )

            def ood() -> OodInputs:
                bank, candidates = self._data("train"), self._data("ood")
                return OodInputs(
                    teacher_bank=self.embeddings(teacher, bank),
                    student_bank=self.embeddings(student, bank),
                    teacher_ood=self.embeddings(teacher, candidates),
                    student_ood=self.embeddings(student, candidates),
                    ood_texts=candidates.texts,
                    ood_spec=candidates.spec,
                )

            self.comparisons[key] = Comparison(
                teacher.spec.text,
                student.spec.text,
                dataset.spec,
                predictions,
                current_test=lambda: self.current_test,
                embeddings=embeddings,
                ood=ood if self.settings.ood_data else None,
                ood_k=self.settings.ood_k,
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
                if "unavailable" in record:
                    merged[key]["unavailable"] = dict(record["unavailable"])
                continue
            into = merged[key]
            into["metrics"].update(record["metrics"])
            into["checks"].extend(record["checks"])
            if "unavailable" in record:
                into.setdefault("unavailable", {}).update(record["unavailable"])
            if into.get("n") is None:
                into["n"] = record.get("n")
        for record in merged.values():
            record["checks"].sort(key=lambda c: c.get("test") or "")  # stable: call order
            unavailable = record.pop("unavailable", {})
            unavailable = {k: v for k, v in unavailable.items() if k not in record["metrics"]}
            if unavailable:
                record["unavailable"] = unavailable
        return list(merged.values())
