"""The search: the smallest dynamic-int8 student, by operator groups kept in float32, whose
required metrics hold against the teacher.

1. The teacher is exported to ONNX once; every candidate is that graph quantized to int8
   except some groups (:mod:`pytest_compressguard.search.groups`).
2. Sensitivity: each group alone kept in float32, measured on the calibration split; a group's
   score is what it gives back on the requirements all-int8 misses (each gain divided by
   all-int8's shortfall on that requirement), ties in graph order.
3. Forward: groups are kept in score order until every requirement holds on the calibration
   split. Backward: each kept group, the largest (in float32 weight bytes) first, goes back to
   int8 when the requirements still hold without it. On the calibration split a requirement
   with a confidence level must clear its threshold by ``margin`` (default 1) times half its
   interval's width: the held-out check draws a new interval of the same width around a
   point that moves by about as much. Both passes stop at the evaluation budget.
4. The result is measured on the held-out split with the same code; only a verified candidate
   is written.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CompressGuardError
from ..models.base import Model, Text
from .candidates import quantize_keeping
from .evaluate import Measured, Reference, measure, reference
from .groups import groups as find_groups
from .groups import weight_bytes
from .requirements import Requirement

_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
    "spiece.model",
    "config.json",
)


@dataclass(frozen=True)
class Candidate:
    """A student: the groups it keeps in float32, its file, size and measurement."""

    kept: tuple[str, ...]
    path: Path
    size_bytes: int
    measured: Measured


@dataclass
class Outcome:
    """What the search found."""

    groups: dict[str, list[str]]
    all_int8: Candidate
    #: each group kept alone: its measurement, and its score (see the module docstring)
    sensitivity: dict[str, Candidate]
    scores: dict[str, float]
    best: Candidate
    #: the best candidate measured on the held-out split (None: nothing met the requirements
    #: on the calibration split, so nothing was verified)
    held_out: Measured | None
    evaluations: int
    seconds: float
    teacher_bytes: int
    notes: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return self.held_out is not None and self.held_out.passes


def split(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded calibration and held-out indices (each in data order): ``share`` of the
    examples calibrate, the rest are held out."""
    if not 0 < share < 1:
        raise ValueError(f"the calibration share must lie between 0 and 1, got {share}")
    order = np.random.default_rng(seed).permutation(n)
    cut = round(n * share)
    if cut < 2 or n - cut < 2:
        raise CompressGuardError(
            f"{n} examples cannot be split {share:g} / {1 - share:g} into a calibration and a "
            "held-out split of two examples or more"
        )
    return np.sort(order[:cut]), np.sort(order[cut:])


def gain(op: str, base: float, value: float) -> float:
    """How far ``value`` moved from ``base`` toward passing a requirement compared by
    ``op``."""
    return value - base if op == ">=" else base - value


class Search:
    """One search over one exported teacher (see the module docstring)."""

    def __init__(
        self,
        fp32: Path,
        folder: Path,
        load: Callable[[Path], Model],
        requirements: Sequence[Requirement],
        calibration: Reference,
        *,
        max_evaluations: int = 200,
        bootstrap: int = 1000,
        seed: int = 0,
        margin: float = 1.0,
        progress: Callable[[str], None] = lambda line: None,
    ) -> None:
        import onnx

        self.fp32 = fp32
        self.folder = folder
        self.load = load
        self.requirements = list(requirements)
        self.calibration = calibration
        self.max_evaluations = max_evaluations
        self.bootstrap = bootstrap
        self.seed = seed
        self.margin = margin
        self.progress = progress
        graph = onnx.load(str(fp32), load_external_data=False).graph
        self.groups = find_groups(graph)
        weights = weight_bytes(graph)
        #: the float32 bytes of each group's weights
        self.bytes = {g: sum(weights[n] for n in nodes) for g, nodes in self.groups.items()}
        self.evaluations = 0
        self._made: dict[frozenset[str], Candidate] = {}

    def candidate(self, kept: Sequence[str]) -> Candidate:
        """The student keeping ``kept`` in float32, built and measured once."""
        key = frozenset(kept)
        if key not in self._made:
            ordered = tuple(g for g in self.groups if g in key)
            path = self.folder / f"candidate-{len(self._made)}" / "model.onnx"
            nodes = [n for g in ordered for n in self.groups[g]]
            quantize_keeping(self.fp32, path, nodes)
            measured = measure(
                self.load(path),
                self.calibration,
                self.requirements,
                bootstrap=self.bootstrap,
                seed=self.seed,
                margin=self.margin,
            )
            self.evaluations += 1
            size = path.stat().st_size
            self._made[key] = Candidate(ordered, path, size, measured)
            held = sum(measured.holds.values())
            self.progress(
                f"evaluation {self.evaluations}: {len(ordered)} groups fp32, "
                f"{size / 1e6:.2f} MB, {held}/{len(self.requirements)} requirements hold"
            )
        return self._made[key]

    def _budget(self) -> bool:
        return self.evaluations < self.max_evaluations

    def run(self, held_out: Reference) -> Outcome:
        """Sensitivity, forward and backward passes, then the held-out check."""
        start = time.perf_counter()
        notes: list[str] = []
        base = self.candidate(())
        sensitivity: dict[str, Candidate] = {}
        scores: dict[str, float] = {}
        missed = [r for r in self.requirements if not base.measured.holds[str(r)]]
        for name in self.groups:
            if not missed or not self._budget():
                break
            sensitivity[name] = found = self.candidate((name,))
            score = 0.0
            for r in missed:
                before = base.measured.decisive[str(r)]
                shortfall = max(abs(r.threshold - before), 1e-12)
                score += gain(r.op, before, found.measured.decisive[str(r)]) / shortfall
            scores[name] = score
        ranked = sorted(scores, key=lambda g: -scores[g])  # stable: ties in graph order
        best = base
        kept: list[str] = []
        if missed:
            for name in ranked + [g for g in self.groups if g not in scores]:
                if not self._budget():
                    notes.append("the evaluation budget ran out in the forward pass")
                    break
                kept.append(name)
                best = self.candidate(kept)
                if best.measured.passes:
                    break
            if best.measured.passes and len(kept) == len(self.groups):
                notes.append(
                    "every group is kept in float32: the requirements forced it (the student "
                    "is the teacher's float32 export)"
                )
        if best.measured.passes:  # backward: the largest kept group first (smallest size)
            for name in sorted(kept, key=lambda g: (-self.bytes[g], scores.get(g, 0.0))):
                if not self._budget():
                    notes.append("the evaluation budget ran out in the backward pass")
                    break
                trial = self.candidate([g for g in best.kept if g != name])
                if trial.measured.passes:
                    best = trial
        verified = None
        if best.measured.passes:
            verified = measure(
                self.load(best.path),
                held_out,
                self.requirements,
                bootstrap=self.bootstrap,
                seed=self.seed,
            )
        else:
            notes.append("no candidate met every requirement on the calibration split")
        return Outcome(
            groups=self.groups,
            all_int8=base,
            sensitivity=sensitivity,
            scores=scores,
            best=best,
            held_out=verified,
            evaluations=self.evaluations,
            seconds=time.perf_counter() - start,
            teacher_bytes=_teacher_bytes(self.fp32),
            notes=notes,
        )


def _teacher_bytes(fp32: Path) -> int:
    return sum(f.stat().st_size for f in [fp32, *fp32.parent.glob(fp32.name + ".data")])


def export_teacher(teacher: Model, folder: Path) -> Path:
    """The teacher's float32 ONNX export in ``folder`` with its tokenizer and config beside
    it (an ONNX teacher is copied)."""
    from ..models.compress import export_onnx

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "model.onnx"
    source = getattr(teacher, "path", None)
    if source is not None:  # already ONNX
        shutil.copy(source, target)
        for name in _TOKENIZER_FILES:
            if (source.parent / name).is_file():
                shutil.copy(source.parent / name, folder / name)
        return target
    export_onnx(teacher, target)  # type: ignore[arg-type]
    (folder / "config.json").write_text(teacher.config.to_json_string())  # type: ignore[attr-defined]
    teacher.tokenizer.save_pretrained(folder)  # type: ignore[attr-defined]
    return target


def write_student(candidate: Candidate, folder: Path, out: Path) -> Path:
    """The candidate's model.onnx with the teacher's tokenizer and config beside it: a spec
    the plugin loads as a student."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(candidate.path, out / "model.onnx")
    for name in _TOKENIZER_FILES:
        if (folder / name).is_file():
            shutil.copy(folder / name, out / name)
    return out


def search(
    teacher: Model,
    texts: Sequence[Text],
    labels: np.ndarray,
    requirements: Sequence[Requirement],
    work: Path,
    *,
    model_options: dict[str, Any] | None = None,
    share: float = 0.5,
    seed: int = 0,
    max_evaluations: int = 200,
    bootstrap: int = 1000,
    margin: float = 1.0,
    bank: Sequence[Text] = (),
    ood: Sequence[Text] = (),
    progress: Callable[[str], None] = lambda line: None,
) -> tuple[Outcome, Path]:
    """Export the teacher, split the data, run the search; return the outcome and the export
    folder (its tokenizer and config go beside a written student). ``model_options`` are
    ``load_model``'s keyword arguments for each candidate (the tokenizer is the export's)."""
    from ..models import load_model

    folder = work / "teacher-fp32"
    fp32 = export_teacher(teacher, folder)
    options = {**(model_options or {}), "tokenizer": str(folder)}
    calibration, held = split(len(texts), share, seed)
    pick = lambda index: [texts[i] for i in index]  # noqa: E731
    first = reference(teacher, pick(calibration), labels[calibration], bank=bank, ood=ood)
    second = replace(  # the bank and OOD embeddings are the same for both splits
        reference(teacher, pick(held), labels[held]),
        bank_texts=first.bank_texts,
        bank=first.bank,
        ood_texts=first.ood_texts,
        ood=first.ood,
    )
    refs = [first, second]
    found = Search(
        fp32,
        work,
        lambda path: load_model(str(path), **options),
        requirements,
        refs[0],
        max_evaluations=max_evaluations,
        bootstrap=bootstrap,
        seed=seed,
        margin=margin,
        progress=progress,
    ).run(refs[1])
    return found, folder


def summary(outcome: Outcome) -> dict[str, Any]:
    """The outcome as JSON."""

    def measured(m: Measured | None) -> dict[str, Any] | None:
        if m is None:
            return None
        return {"point": m.point, "decisive": m.decisive, "holds": m.holds}

    return {
        "groups": {g: len(n) for g, n in outcome.groups.items()},
        "kept_fp32": list(outcome.best.kept),
        "size_bytes": outcome.best.size_bytes,
        "size_ratio_to_teacher": outcome.best.size_bytes / outcome.teacher_bytes,
        "size_ratio_to_all_int8": outcome.best.size_bytes / outcome.all_int8.size_bytes,
        "all_int8": measured(outcome.all_int8.measured),
        "calibration": measured(outcome.best.measured),
        "held_out": measured(outcome.held_out),
        "verified": outcome.verified,
        "sensitivity": {
            g: {"score": outcome.scores[g], **(measured(c.measured) or {})}
            for g, c in outcome.sensitivity.items()
        },
        "evaluations": outcome.evaluations,
        "seconds": outcome.seconds,
        "notes": outcome.notes,
    }
