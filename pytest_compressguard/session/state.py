"""Per-session state: the lazy models and datasets, the comparisons, the xdist hand-over."""

from __future__ import annotations

import shutil
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

from pytest_compressguard.core import cache
from pytest_compressguard.core.errors import (
    CompressGuardError,
    DataError,
    ModelLoadError,
    SnapshotSettingsError,
)
from pytest_compressguard.core.lazy import Lazy
from pytest_compressguard.data.texts import Dataset
from pytest_compressguard.engine.attack_runner import AttackRunner
from pytest_compressguard.engine.comparison import Comparison
from pytest_compressguard.engine.efficiency import Measurements
from pytest_compressguard.engine.inputs import (
    OOD_ABSENT,
    OodInputs,
    PairEfficiency,
    PairEmbeddings,
    PairInputs,
)
from pytest_compressguard.engine.outputs import OutputStore
from pytest_compressguard.guard import Guard
from pytest_compressguard.models.base import Model
from pytest_compressguard.options import Settings, eval_sets
from pytest_compressguard.report import record as records_
from pytest_compressguard.tasks import DEFAULT, Task, detect, get


class SessionState:
    """Everything one pytest session shares; each model runs over each dataset at most once."""

    def __init__(self, settings: Settings, cache_dir: Path | None) -> None:
        self.settings = settings
        self.cache_dir = cache_dir
        self.comparisons: dict[tuple[str, str, str | None], Guard] = {}
        self.worker_records: list[dict[str, Any]] = []
        #: The merged records and the --compressguard-pairwise table, made once at the end of
        #: the session for every report.
        self.final_records: list[dict[str, Any]] | None = None
        self.pairwise_table: dict[str, Any] | list[dict[str, Any]] | None = None
        #: What --compressguard-snapshot-update did, for the terminal summary.
        self.snapshot_line: str | None = None
        self._models: dict[str, Lazy[Model]] = {}
        self._task: Lazy[Task] = Lazy(self._detect_task, "no teacher")
        #: The eval sets by name, in command-line order.
        self.eval_sets = {e.name: e for e in eval_sets(settings)}
        self._datasets: dict[str, Lazy[Dataset]] = {
            role: Lazy(partial(self._read, role, spec), f"no {role} data")
            for role, spec in (("train", settings.train_data), ("ood", settings.ood_data))
        }
        self._eval: dict[str, Lazy[Dataset]] = {
            name: Lazy(partial(self._read, "eval", e.spec), f"no eval data {name}")
            for name, e in self.eval_sets.items()
        }
        s = settings
        self.outputs = OutputStore(
            cache_dir,
            [DEFAULT.max_length(s), s.batch_size, s.pooling, s.embedding_output, s.tokenizer],
        )
        self.attacks = AttackRunner(settings, self.outputs, cache_dir)
        self.measurements = Measurements(cache_dir)
        self._scratch: Path | None = None

    def _detect_task(self) -> Task:
        if self.settings.task is not None:
            return get(self.settings.task)
        if not self.settings.teacher:
            raise CompressGuardError("no teacher model (pass --teacher)")
        return detect(self.settings.teacher)

    def task(self) -> Task:
        """What the models do: ``--task``, else found from the teacher (a load error is kept)."""
        return self._task.get()

    def model(self, spec: str) -> Model:
        """The model a spec names, loaded once (a load error is kept and raised again)."""
        if spec not in self._models:
            self._models[spec] = Lazy(partial(self._load, spec), f"no model {spec}")
        return self._models[spec].get()

    def output_settings(self) -> dict[str, Any]:
        """The settings that change a model's outputs (a snapshot records and checks them;
        the batch size changes them only by rounding and is left out)."""
        s, task = self.settings, self.task()
        return {
            "task": task.name,
            "max_length": task.max_length(s),
            "pooling": s.pooling,
            "embedding_output": s.embedding_output,
            "tokenizer": s.tokenizer,
            **task.output_settings(s),
        }

    def check_snapshots(self) -> None:
        """Raise :class:`SnapshotSettingsError` when a ``snapshot:`` model was written with
        other output settings than this session's: known before any test runs. Other errors
        of a snapshot (a missing or damaged file) are left to the fixture that loads it."""
        from pytest_compressguard.models.snapshot import open_snapshot
        from pytest_compressguard.models.spec import parse_spec

        s = self.settings
        for spec in dict.fromkeys(x for x in (s.teacher, *s.student, *s.baseline) if x):
            try:
                parsed = parse_spec(spec)
                if parsed.kind == "snapshot":
                    open_snapshot(parsed.source).check_settings(self.output_settings())
            except SnapshotSettingsError:
                raise
            except CompressGuardError:
                continue

    def _load(self, spec: str) -> Model:
        """The model, or with a cache directory, a :class:`DeferredModel` when its description
        is cached (an unchanged rerun then loads no weights)."""
        from pytest_compressguard.models.base import local_fingerprint
        from pytest_compressguard.models.deferred import FORMAT, DeferredModel, describe, versions
        from pytest_compressguard.models.spec import parse_spec

        self._check_task(spec)
        parsed = parse_spec(spec)
        if parsed.kind == "snapshot":
            from pytest_compressguard.models.snapshot import SnapshotModel

            return SnapshotModel(parsed, self.output_settings())  # type: ignore[return-value]
        innermost = parsed.inner or parsed
        source = local_fingerprint(innermost)
        if self.cache_dir is None or source is None:  # a Hub model is fingerprinted loaded
            return self._load_now(spec)
        store = cache.JsonStore(self.cache_dir, "models", "model description")
        key = cache.key(
            FORMAT,
            {
                "spec": parsed.text,
                "source": source,
                "load": {**self.output_settings(), "batch": self.settings.batch_size},
                "device": self.settings.device,
                "versions": versions(),
            },
        )
        description = store.read(key)
        if description is not None:
            return DeferredModel(  # type: ignore[return-value]
                parsed, description, partial(self._load_now, spec)
            )
        model = self._load_now(spec)
        store.write(
            key,
            describe(
                model, self.outputs.fingerprint(model), lambda: self.measurements.footprint(model)
            ),
        )
        return model

    def _check_task(self, spec: str) -> None:
        """A student of another task than the teacher's is refused (unless --task forces)."""
        s = self.settings
        task = self.task()
        if s.task is None and spec != s.teacher and (found := detect(spec)) is not task:
            raise ModelLoadError(
                f"the teacher {s.teacher} {task.does} but the student {spec} {found.does}: "
                "compare models of one task (or force one with --task)"
            )

    def _load_now(self, spec: str) -> Model:
        """The model a spec names, loaded."""
        cache_dir = self.cache_dir or (self.scratch() if "onnx-int8:" in spec else None)
        return self.task().load(spec, self.settings, cache_dir)

    def scratch(self) -> Path:
        """A directory for this session's builds when there is no cache directory
        (``-p no:cacheprovider``): ``onnx-int8:`` models are built there, once per session."""
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="compressguard-"))
        return self._scratch

    def close(self) -> None:
        """Remove the session's scratch directory."""
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def _read(self, role: str, spec: str | None) -> Any:
        if spec is None:
            raise DataError(f"no {role} data: pass --{role}-data")
        return self.task().read(role, spec, self.settings)

    def dataset(self, role: str = "eval", name: str | None = None) -> Any:
        """The eval set ``name`` (default: the first), or the train or OOD dataset, read once
        (a read error is kept)."""
        if role != "eval":
            return self._datasets[role].get()
        if not self._eval:
            raise DataError("no eval data: pass --eval-data")
        return self._eval[name or next(iter(self._eval))].get()

    # -- comparisons -----------------------------------------------------------------------

    def inputs(self, teacher: Model, student: Model, name: str | None = None) -> PairInputs:
        """What the comparison of the pair on eval set ``name`` may read, each part lazy: for
        question answerers, their answers, the [CLS] vectors of each question with its first
        window, and no attack."""
        data, outputs, measurements = self.dataset(name=name), self.outputs, self.measurements
        train, candidates_ = self._datasets["train"], self._datasets["ood"]
        task, s = self.task(), self.settings

        def predictions() -> Any:
            return task.predictions(outputs, teacher, student, data, s)

        def vectors(model: Model, d: Any, eval_data: bool = False) -> Any:
            return task.vectors(outputs, model, d, s, eval_data=eval_data)

        def embeddings() -> PairEmbeddings:
            return PairEmbeddings(
                teacher=vectors(teacher, data, eval_data=True),
                student=vectors(student, data, eval_data=True),
                texts=task.shown(data),
            )

        def ood() -> OodInputs:
            bank, candidates = train.get(), candidates_.get()
            return OodInputs(
                teacher_bank=vectors(teacher, bank),
                student_bank=vectors(student, bank),
                teacher_ood=vectors(teacher, candidates),
                student_ood=vectors(student, candidates),
                ood_texts=task.shown(candidates),
                ood_spec=candidates.spec,
            )

        roles = {"teacher": teacher, "student": student}
        timed = task.timed(data)
        attacked = task.not_attacked is None
        attacks = {
            recipe: Lazy(
                partial(self.attacks.pair, teacher, student, data, recipe) if attacked else None,
                task.not_attacked or "no attack",
            )
            for recipe in self.settings.recipes
        }
        attack = next(iter(attacks.values()))
        return PairInputs(
            n=len(data),
            predictions=Lazy(predictions, "no predictions"),
            embeddings=Lazy(embeddings, "no embeddings"),
            ood=Lazy(ood if self.settings.ood_data else None, OOD_ABSENT),
            attack=attack,
            attacks=attacks,
            efficiency=Lazy(
                lambda: PairEfficiency(
                    teacher=measurements.footprint(teacher),
                    student=measurements.footprint(student),
                    latency=lambda role, batch: measurements.latency(roles[role], timed, batch),
                ),
                "no models",
            ),
            task=task,
        )

    def comparison(self, teacher: Model, student: Model, name: str | None = None) -> Guard:
        """The comparison of a student with the teacher (or a ``--baseline``, passed as
        ``teacher``) on eval set ``name`` (default: the first), made once. With several eval
        sets it carries the set's name."""
        name = name or next(iter(self.eval_sets), None)
        key = (teacher.spec.text, student.spec.text, name)
        if key not in self.comparisons:
            s = self.settings
            comparison = Comparison(
                teacher.spec.text,
                student.spec.text,
                self.dataset(name=name).spec,
                self.inputs(teacher, student, name),
                ood_k=s.ood_k,
                bootstrap=s.bootstrap,
                seed=s.seed,
                eval_set=name if len(self.eval_sets) > 1 else None,
                reference="teacher" if teacher.spec.text == s.teacher else "baseline",
                fingerprints={
                    "teacher": self.outputs.fingerprint(teacher),
                    "student": self.outputs.fingerprint(student),
                    "eval_data": self.dataset(name=name).fingerprint,
                },
            )
            self.comparisons[key] = Guard(comparison)
        return self.comparisons[key]

    def pairwise(self) -> dict[str, Any] | list[dict[str, Any]]:
        """Every pair metric for every ordered pair among the teacher and all students on
        each eval set (``--compressguard-pairwise``): one table, or with several eval sets a
        list of them, each naming its ``"eval_set"``."""
        if len(self.eval_sets) <= 1:
            return self.pairwise_table_of(None)
        return [{"eval_set": name, **self.pairwise_table_of(name)} for name in self.eval_sets]

    def pairwise_table_of(self, name: str | None) -> dict[str, Any]:
        """The pairwise table on eval set ``name`` (default: the first), from the outputs each
        model computed once. A model that cannot load, or data that cannot be read, gives
        ``{"error": ...}``."""
        from pytest_compressguard.engine.pairwise import pairwise

        s = self.settings
        roles = {spec: "student" for spec in s.student}
        roles |= {spec: "baseline" for spec in s.baseline} | {s.teacher or "": "teacher"}
        specs = list(dict.fromkeys([s.teacher or "", *s.baseline, *s.student]))
        named = {"roles": [roles[spec] for spec in specs]} if s.baseline else {}
        try:
            dataset = self.dataset(name=name)
            models = [self.model(spec) for spec in specs]
            given, reasons = self.task().pairwise_inputs(self.outputs, models, dataset, s)
        except CompressGuardError as exc:
            return {"models": specs, "error": str(exc)}
        table = pairwise(specs, **given)
        if reasons:  # the specific reason beats the generic one
            for name, why in table.get("unavailable", {}).items():
                if name in ("knn_agreement", "cka"):
                    table["unavailable"][name] = reasons.get("embeddings", why)
                else:
                    table["unavailable"][name] = reasons.get("predictions", why)
        return {"dataset": dataset.spec, "n": len(dataset), **table, **named}

    def records(self) -> list[dict[str, Any]]:
        """This process's comparisons plus those sent by xdist workers, merged per pair."""
        own = [records_.record(c) for c in self.comparisons.values()]
        return records_.merge(
            [*own, *self.worker_records], self.settings.student, tuple(self.eval_sets)
        )
