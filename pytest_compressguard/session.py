"""Per-session state: loaded models, the dataset, outputs computed once, comparisons."""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .attacks import store
from .attacks.bert_attack import AttackRun, AttackSettings, ExampleResult
from .comparison import (
    Comparison,
    OodInputs,
    PairAttack,
    PairEfficiency,
    PairEmbeddings,
    PairOutputs,
    _Lazy,
)
from .data import Dataset, load_dataset
from .efficiency import Footprint, Latency
from .errors import CompressGuardError, DataError, MissingOutputError, ModelLoadError
from .models.base import Encoded, Model, align_labels, local_fingerprint
from .options import Settings

if TYPE_CHECKING:
    from .attacks.mlm import MaskedLM


class Progress(Protocol):
    """Where a long computation reports: a bar on a terminal, a line per model in CI logs."""

    def update(self, label: str, done: int, total: int, successes: int) -> None: ...

    def finish(self, line: str) -> None: ...


class NoProgress:
    """Reports nothing (a session outside pytest's terminal, an xdist worker)."""

    def update(self, label: str, done: int, total: int, successes: int) -> None:
        pass

    def finish(self, line: str) -> None:
        pass


class SessionState:
    """Everything one pytest session shares; each model runs over the dataset at most once."""

    def __init__(self, settings: Settings, cache_dir: Path | None) -> None:
        self.settings = settings
        self.cache_dir = cache_dir
        self.current_test: str | None = None
        self.comparisons: dict[str, Comparison] = {}
        self.worker_records: list[dict[str, Any]] = []
        #: The merged records and the --compressguard-pairwise table, made once at the end of
        #: the session for every report.
        self.final_records: list[dict[str, Any]] | None = None
        self.pairwise_table: dict[str, Any] | None = None
        self._models: dict[str, _Lazy[Model]] = {}
        self._datasets: dict[str, _Lazy[Dataset]] = {}
        self._encoded: dict[tuple[str, str], Encoded] = {}
        self._mlm: _Lazy[MaskedLM] = _Lazy(self._load_mlm, "no masked LM")
        self._attacks: dict[str, AttackRun] = {}
        self._footprints: dict[str, Footprint] = {}
        self._latencies: dict[tuple[str, int], Latency] = {}
        self._fingerprints: dict[str, str] = {}
        self.progress: Progress = NoProgress()

    def model(self, spec: str) -> Model:
        """The model a spec names, loaded once (a load error is kept and raised again)."""
        if spec not in self._models:
            from .models.resolve import load_model

            s = self.settings
            self._models[spec] = _Lazy(
                lambda: load_model(
                    spec,
                    batch_size=s.batch_size,
                    max_length=s.max_length,
                    device=s.device,
                    tokenizer=s.tokenizer,
                    cache_dir=self.cache_dir,
                    pooling=s.pooling,
                    embedding_output=s.embedding_output,
                ),
                f"no model {spec}",
            )
        return self._models[spec].get()

    def _data(self, role: str) -> Dataset:
        """The eval, train or OOD dataset, read once (a read error is kept and raised again)."""
        if role not in self._datasets:
            s = self.settings
            spec = {"eval": s.eval_data, "train": s.train_data, "ood": s.ood_data}[role]

            def read() -> Dataset:
                if spec is None:
                    raise DataError(f"no {role} data: pass --{role}-data")
                return load_dataset(
                    spec,
                    text_column=s.text_column,
                    label_column=s.label_column,
                    max_examples=s.max_examples if role == "eval" else None,
                    seed=s.seed,
                    labels="optional" if role == "eval" else "ignored",
                )

            self._datasets[role] = _Lazy(read, f"no {role} data")
        return self._datasets[role].get()

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
            if self.cache_dir is None:
                found = self._encode(model, dataset, want_probs, want_vectors)
            else:
                found = self._encode_cached(model, dataset, want_probs, want_vectors)
            self._encoded[key] = found
        return found

    def _encode(
        self, model: Model, dataset: Dataset, probabilities: bool, embeddings: bool
    ) -> Encoded:
        found = model.encode(dataset.texts, probabilities=probabilities, embeddings=embeddings)
        self._validate(model, dataset, found)
        return found

    def _encode_cached(
        self, model: Model, dataset: Dataset, probabilities: bool, embeddings: bool
    ) -> Encoded:
        """The outputs from the disk cache, else computed and saved, under a lock on the key:
        processes on one machine (xdist workers) compute each model's outputs once."""
        from . import outputs

        assert self.cache_dir is not None
        s = self.settings
        key = outputs.cache_key(
            {
                "model": self.fingerprint(model),
                "inputs": [s.max_length, s.batch_size, s.pooling, s.embedding_output, s.tokenizer],
                "texts": dataset.texts_fingerprint,
            }
        )
        with outputs.locked(self.cache_dir, key):
            found = outputs.load(self.cache_dir, key)
            if found is not None:
                try:
                    self._validate(model, dataset, found)
                except ModelLoadError:
                    found = None
            missing = found is None or (
                (probabilities and found.probabilities is None)
                or (embeddings and found.embeddings is None)
            )
            if missing:
                found = self._encode(model, dataset, probabilities, embeddings)
                outputs.save(self.cache_dir, key, found)
        assert found is not None
        return found

    def fingerprint(self, model: Model) -> str:
        """The model's content hash, computed once per session."""
        if model.spec.text not in self._fingerprints:
            self._fingerprints[model.spec.text] = model.fingerprint()
        return self._fingerprints[model.spec.text]

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

    # -- efficiency ------------------------------------------------------------------------

    def footprint(self, model: Model) -> Footprint:
        """The model's size and parameter count, measured once per session."""
        if model.spec.text not in self._footprints:
            from .efficiency import footprint

            self._footprints[model.spec.text] = footprint(model)
        return self._footprints[model.spec.text]

    def latency(self, model: Model, batch: int) -> Latency:
        """The model's median call time on ``batch`` eval texts, measured once per session."""
        key = (model.spec.text, batch)
        if key not in self._latencies:
            from .efficiency import measure_latency
            from .outputs import locked

            # one timing at a time on this machine: parallel workers would skew it
            lock = locked(self.cache_dir, "latency") if self.cache_dir else nullcontext()
            with lock:
                self._latencies[key] = measure_latency(model, self.dataset().texts, batch)
        return self._latencies[key]

    def pair_efficiency(self, teacher: Model, student: Model) -> PairEfficiency:
        models = {"teacher": teacher, "student": student}
        return PairEfficiency(
            teacher=self.footprint(teacher),
            student=self.footprint(student),
            latency=lambda role, batch: self.latency(models[role], batch),
        )

    # -- attacks ---------------------------------------------------------------------------

    def attack_settings(self) -> AttackSettings:
        s = self.settings
        return AttackSettings(
            candidates=s.attack_candidates,
            max_perturb=s.attack_max_perturb,
            max_queries=s.attack_max_queries,
        )

    def _load_mlm(self) -> MaskedLM:
        from .attacks.mlm import MaskedLM

        s = self.settings
        return MaskedLM(s.attack_mlm, max_length=s.max_length, device=s.device)

    def mlm(self) -> MaskedLM:
        """The attack's masked language model, loaded once (a load error is kept)."""
        return self._mlm.get()

    @cached_property
    def mlm_fingerprint(self) -> str:
        """The masked LM's content hash: from its files when local (the model is not loaded
        then, so a fully cached attack never loads it)."""
        from .attacks.mlm import mlm_spec

        return local_fingerprint(mlm_spec(self.settings.attack_mlm)) or self.mlm().fingerprint()

    def attack_sample(self, dataset: Dataset) -> np.ndarray:
        """Indices of the eval examples to attack: a seeded sample of --attack-examples, in
        data order."""
        n = min(self.settings.attack_examples, len(dataset))
        rng = np.random.default_rng(self.settings.seed)
        return np.sort(rng.permutation(len(dataset))[:n])

    def attack_run(
        self, model: Model, role: str, indices: np.ndarray, labels: np.ndarray
    ) -> AttackRun:
        """The attack on ``model`` over the eval examples at ``indices`` (gold ``labels`` in
        the model's own label order): from memory, else from the disk cache, else computed.

        Within a session the sample, the labels and the settings are fixed, so the memory
        cache is keyed by the model alone (the teacher is attacked once for all students)."""
        if model.spec.text in self._attacks:
            return self._attacks[model.spec.text]
        dataset = self.dataset()
        texts = [dataset.texts[i] for i in indices]
        settings = self.attack_settings()
        key = store.cache_key(
            {
                "attack": vars(settings),
                "mlm": self.mlm_fingerprint,
                "model": self.fingerprint(model),
                "model_inputs": [self.settings.max_length, self.settings.batch_size],
                "data": [dataset.fingerprint, indices.tolist(), labels.tolist()],
            }
        )
        label = f"{role} {model.spec.text}"
        payload = store.load(self.cache_dir, key) if self.cache_dir is not None else None
        if payload is not None:
            run = AttackRun.from_json(payload, cached=True)
            self.progress.finish(
                f"compressguard: attack on {label}: read from the cache "
                f"({_attack_summary(run.examples)})"
            )
        else:
            from .attacks.bert_attack import attack

            mlm = self.mlm()
            total = len(texts)
            self.progress.update(label, 0, total, 0)
            start = time.perf_counter()
            examples = attack(
                model.predict_proba,
                mlm,
                texts,
                labels.tolist(),
                settings,
                indices=indices.tolist(),
                progress=lambda done, hits: self.progress.update(label, done, total, hits),
            )
            run = AttackRun(model.spec.text, tuple(examples), time.perf_counter() - start)
            if self.cache_dir is not None:
                store.save(self.cache_dir, key, run.to_json())
            self.progress.finish(
                f"compressguard: attack on {label}: {_attack_summary(run.examples)} in "
                f"{run.seconds:.1f} s"
            )
        self._attacks[model.spec.text] = run
        return run

    def pair_attack(self, teacher: Model, student: Model) -> PairAttack:
        """Both models attacked on the same examples, the student's labels put in the teacher's
        order, and the student's predictions on the teacher's successful adversarial texts."""
        dataset = self.dataset()
        for model in (teacher, student):
            if "probabilities" in model.missing:
                raise MissingOutputError(model.missing["probabilities"])
        order = _label_order(teacher, student)
        gold = dataset.label_indices(teacher.labels, teacher.num_labels)
        indices = self.attack_sample(dataset)
        teacher_run = self.attack_run(teacher, "teacher", indices, gold[indices])
        student_run = self.attack_run(student, "student", indices, order[gold[indices]])
        to_teacher = np.argsort(order)  # student class -> teacher class
        student_examples = tuple(_relabel(e, to_teacher) for e in student_run.examples)
        adversarial = [e.adversarial for e in teacher_run.examples if e.success]
        transferred = np.full(len(indices), -1, dtype=np.int64)
        if adversarial:
            found = to_teacher[student.predict_proba(adversarial).argmax(axis=1)]
            transferred[[i for i, e in enumerate(teacher_run.examples) if e.success]] = found
        return PairAttack(
            teacher=teacher_run.examples,
            student=student_examples,
            transferred=transferred,
            settings={
                **vars(self.attack_settings()),
                "mlm": self.settings.attack_mlm,
                "examples": len(indices),
            },
            cached={"teacher": teacher_run.cached, "student": student_run.cached},
            report_max=self.settings.attack_report_max,
            label_names=teacher.labels,
        )

    def comparison(self, teacher: Model, student: Model) -> Comparison:
        """The comparison of a student with the teacher on the eval data, made once."""
        key = student.spec.text
        if key not in self.comparisons:
            dataset = self.dataset()

            def predictions() -> PairOutputs:
                p_teacher = self.probabilities(teacher, dataset)
                p_student = self.probabilities(student, dataset)
                return PairOutputs(
                    teacher=p_teacher,
                    student=p_student[:, _label_order(teacher, student)],
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
                attack=lambda: self.pair_attack(teacher, student),
                bootstrap=self.settings.bootstrap,
                seed=self.settings.seed,
                efficiency=lambda: self.pair_efficiency(teacher, student),
            )
        return self.comparisons[key]

    def pairwise(self) -> dict[str, Any]:
        """Every pair metric for every ordered pair among the teacher and all students on the
        eval data (``--compressguard-pairwise``), from the outputs each model computed once.

        A model that cannot load, or data that cannot be read, gives ``{"error": ...}``."""
        from .comparison import DEFAULT_K
        from .pairwise import pairwise

        s = self.settings
        specs = [s.teacher or "", *s.student]
        try:
            dataset = self.dataset()
            models = [self.model(spec) for spec in specs]
            teacher = models[0]
            probabilities = labels = embeddings = None
            reasons: dict[str, str] = {}
            try:
                labels = dataset.label_indices(teacher.labels, teacher.num_labels)
                probabilities = [
                    self.probabilities(m, dataset)[:, _label_order(teacher, m)] for m in models
                ]
            except (DataError, MissingOutputError) as exc:
                reasons["predictions"] = str(exc)
            try:
                embeddings = [self.embeddings(m, dataset) for m in models]
            except MissingOutputError as exc:
                reasons["embeddings"] = str(exc)
        except CompressGuardError as exc:
            return {"models": specs, "error": str(exc)}
        table = pairwise(specs, probabilities, labels, embeddings, k=DEFAULT_K)
        if reasons:  # the specific reason beats the generic one
            for name, why in table.get("unavailable", {}).items():
                if name in ("knn_agreement", "cka"):
                    table["unavailable"][name] = reasons.get("embeddings", why)
                else:
                    table["unavailable"][name] = reasons.get("predictions", why)
        return {"dataset": dataset.spec, "n": len(dataset), **table}

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
            for extra in _FIRST_WINS:
                if extra in record and extra not in into:
                    into[extra] = record[extra]
            if "ci" in record:
                into["ci"] = {**into.get("ci", {}), **record["ci"]}
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
        order = {spec: i for i, spec in enumerate(self.settings.student)}
        return sorted(  # the students' command-line order, however workers finished
            merged.values(), key=lambda r: (order.get(r["student"], len(order)), r["student"])
        )


#: Record parts that are the same wherever the pair was measured: the first copy is kept.
_FIRST_WINS = (
    "attack",
    "adversarial_examples",
    "error",
    "per_class",
    "confusion_matrix",
    "mcnemar",
    "probability_sample",
    "efficiency",
)


def _label_order(teacher: Model, student: Model) -> np.ndarray:
    """Column order putting the student's classes in the teacher's order (see align_labels)."""
    assert teacher.num_labels is not None and student.num_labels is not None
    return align_labels(
        teacher.labels,
        teacher.num_labels,
        student.labels,
        student.num_labels,
        f"{teacher.spec.text} vs {student.spec.text}",
    )


def _relabel(example: ExampleResult, to_teacher: np.ndarray) -> ExampleResult:
    """An example's labels as indices of the teacher's label set."""
    return replace(
        example,
        label=int(to_teacher[example.label]),
        before=int(to_teacher[example.before]),
        after=int(to_teacher[example.after]),
    )


def _attack_summary(examples: tuple[ExampleResult, ...]) -> str:
    attacked = sum(e.status != "skipped" for e in examples)
    broken = sum(e.success for e in examples)
    return f"{len(examples)} examples, {attacked} attacked, {broken} broken"
