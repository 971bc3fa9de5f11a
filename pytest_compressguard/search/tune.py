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
4. Dropping layers (``drop_layers``): while the result passes, the top encoder layer is dropped
   (:mod:`pytest_compressguard.search.depth`) keeping the same float32 groups; when that
   misses, the float32 graph of that depth is measured: if even it misses, no smaller depth is
   tried (the head reads a representation the remaining layers no longer produce); otherwise
   groups are added in score order and removed again as above. A depth is taken only when
   its student is smaller.
5. The result is measured on the held-out split with the same code; only a verified candidate
   is written.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from pytest_compressguard.core.errors import CompressGuardError
from pytest_compressguard.core.types import Text
from pytest_compressguard.metrics.verdict import gain
from pytest_compressguard.models.base import Model
from pytest_compressguard.report import provenance
from pytest_compressguard.search.candidates import parameter_bytes, quantize_keeping
from pytest_compressguard.search.depth import count, truncate
from pytest_compressguard.search.evaluate import Measured, Reference, measure, reference
from pytest_compressguard.search.groups import groups as find_groups
from pytest_compressguard.search.groups import layer_of, weight_bytes
from pytest_compressguard.search.requirements import Requirement


@dataclass(frozen=True)
class Candidate:
    """A student: the groups it keeps in float32, its file, size and measurement, the
    encoder layers it keeps and the bytes of its weights."""

    kept: tuple[str, ...]
    path: Path
    size_bytes: int
    measured: Measured
    depth: int = 0
    parameter_bytes: int = 0


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
    teacher_parameter_bytes: int
    notes: list[str] = field(default_factory=list)
    #: the teacher's encoder layers, and the candidates measured while dropping layers
    layers: int = 0
    depth_moves: list[Candidate] = field(default_factory=list)

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
        drop_layers: bool = False,
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
        self.drop_layers = drop_layers
        self.progress = progress
        graph = onnx.load(str(fp32), load_external_data=False).graph
        self.groups = find_groups(graph)
        weights = weight_bytes(graph)
        #: the float32 bytes of each group's weights
        self.bytes = {g: sum(weights[n] for n in nodes) for g, nodes in self.groups.items()}
        self.layers = count(graph)
        #: per depth, the float32 graph keeping that many layers and its groups
        self._depths: dict[int, tuple[Path, dict[str, list[str]]]] = {
            self.layers: (fp32, self.groups)
        }
        self.depth_moves: list[Candidate] = []
        self.evaluations = 0
        self._made: dict[tuple[int, frozenset[str]], Candidate] = {}

    def at(self, depth: int) -> tuple[Path, dict[str, list[str]]]:
        """The float32 graph keeping the first ``depth`` encoder layers, and its groups (the
        teacher's, less those of the dropped layers: the cut keeps node names)."""
        if depth not in self._depths:
            path = truncate(self.fp32, self.folder / f"fp32-{depth}-layers" / "model.onnx", depth)
            kept = {
                group: nodes
                for group, nodes in self.groups.items()
                if all((layer_of(node) or 0) < depth for node in nodes)
            }
            self._depths[depth] = (path, kept)
        return self._depths[depth]

    def candidate(self, kept: Sequence[str], depth: int | None = None) -> Candidate:
        """The student keeping ``kept`` in float32 (and ``depth`` encoder layers, all when
        None), built and measured once."""
        depth = self.layers if depth is None else depth
        key = (depth, frozenset(kept))
        if key not in self._made:
            source, groups = self.at(depth)
            ordered = tuple(g for g in groups if g in key[1])
            path = self.folder / f"candidate-{len(self._made)}" / "model.onnx"
            nodes = [n for g in ordered for n in groups[g]]
            quantize_keeping(source, path, nodes)
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
            weights = parameter_bytes(path)
            self._made[key] = Candidate(ordered, path, size, measured, depth, weights)
            held = sum(measured.holds.values())
            layers = f"{depth} of {self.layers} layers, " if depth < self.layers else ""
            self.progress(
                f"evaluation {self.evaluations}: {layers}{len(ordered)} groups fp32, "
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
        order = ranked + [g for g in self.groups if g not in scores]
        best = base
        if missed:
            best = self._forward([], order, self.layers, notes)
            if best.measured.passes and len(best.kept) == len(self.groups):
                notes.append(
                    "every group is kept in float32: the requirements forced it (the student "
                    "is the teacher's float32 export)"
                )
        if best.measured.passes:
            best = self._backward(best, scores, notes)
        if self.drop_layers and best.measured.passes:
            best = self._drop_layers(best, order, scores, notes)
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
            teacher_parameter_bytes=parameter_bytes(self.fp32),
            notes=notes,
            layers=self.layers,
            depth_moves=self.depth_moves,
        )

    def _forward(
        self, start: list[str], order: list[str], depth: int, notes: list[str]
    ) -> Candidate:
        """Keep groups of ``order`` in float32, one more at a time, until the requirements
        hold; the last candidate measured."""
        kept = list(start)
        found = self.candidate(kept, depth)
        for name in (g for g in order if g not in start):
            if found.measured.passes:
                break
            if not self._budget():
                notes.append("the evaluation budget ran out in the forward pass")
                break
            kept.append(name)
            found = self.candidate(kept, depth)
        return found

    def _backward(self, best: Candidate, scores: dict[str, float], notes: list[str]) -> Candidate:
        """Each kept group, the largest first, back to int8 when the requirements still hold
        without it."""
        for name in sorted(best.kept, key=lambda g: (-self.bytes[g], scores.get(g, 0.0))):
            if not self._budget():
                notes.append("the evaluation budget ran out in the backward pass")
                break
            trial = self.candidate([g for g in best.kept if g != name], best.depth)
            if trial.measured.passes:
                best = trial
        return best

    def _drop_layers(
        self, best: Candidate, order: list[str], scores: dict[str, float], notes: list[str]
    ) -> Candidate:
        """Drop the top encoder layer while a smaller student still passes (see the module
        docstring)."""
        if self.layers < 2:
            notes.append(
                f"the graph's node names show {self.layers} encoder layer(s): none to drop"
            )
        for depth in range(self.layers - 1, 0, -1):
            if not self._budget():
                notes.append("the evaluation budget ran out while dropping layers")
                break
            available = self.at(depth)[1]
            start = [g for g in best.kept if g in available]
            trial = self.candidate(start, depth)
            self.depth_moves.append(trial)
            if not trial.measured.passes:
                bound = trial  # every group of this depth in float32: can any student pass?
                if len(start) < len(available):
                    if not self._budget():
                        notes.append("the evaluation budget ran out while dropping layers")
                        break
                    bound = self.candidate(list(available), depth)
                    self.depth_moves.append(bound)
                if not bound.measured.passes:
                    notes.append(
                        f"keeping {depth} of {self.layers} encoder layers misses "
                        + ", ".join(
                            f"{key} ({bound.measured.decisive[key]:.4f})"
                            for key, holds in bound.measured.holds.items()
                            if not holds
                        )
                        + f" even in float32: the student keeps {best.depth}"
                    )
                    break
                trial = self._forward(start, [g for g in order if g in available], depth, notes)
                if not trial.measured.passes:
                    break
            trial = self._backward(trial, scores, notes)
            if trial.size_bytes >= best.size_bytes:
                notes.append(
                    f"keeping {depth} of {self.layers} encoder layers, the requirements hold "
                    f"only with {len(trial.kept)} group(s) in float32, a student no smaller: "
                    f"the student keeps {best.depth}"
                )
                break
            best = trial
        return best


def _teacher_bytes(fp32: Path) -> int:
    return sum(f.stat().st_size for f in [fp32, *fp32.parent.glob(fp32.name + ".data")])


def export_teacher(teacher: Model, folder: Path) -> Path:
    """The teacher's float32 ONNX export in ``folder`` with its tokenizer (the one it was
    loaded with) and config beside it (an ONNX teacher is copied, with the config.json beside
    it if any)."""
    from pytest_compressguard.models.compress import export_onnx

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "model.onnx"
    source = getattr(teacher, "path", None)
    if source is not None:  # already ONNX
        shutil.copy(source, target)
        if (source.parent / "config.json").is_file():
            shutil.copy(source.parent / "config.json", folder / "config.json")
    else:
        export_onnx(teacher, target)  # type: ignore[arg-type]
        config = teacher.config.to_json_string()  # type: ignore[attr-defined]
        (folder / "config.json").write_text(config)
    teacher.tokenizer.save_pretrained(folder)  # type: ignore[attr-defined]
    return target


def write_student(
    candidate: Candidate, folder: Path, out: Path, described: dict[str, Any] | None = None
) -> Path:
    """The candidate's model.onnx with the teacher's tokenizer and config beside it (its
    layer count set to the candidate's): a spec the plugin loads as a student; and the
    search's summary ``described`` (:mod:`~pytest_compressguard.search.provenance`)."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(candidate.path, out / "model.onnx")
    for path in folder.iterdir():  # the tokenizer and config export_teacher wrote
        if path.is_file() and not path.name.startswith("model.onnx"):
            shutil.copy(path, out / path.name)
    config = out / "config.json"
    if config.is_file():
        found = json.loads(config.read_text())
        for key in ("num_hidden_layers", "n_layers", "num_layers"):
            if isinstance(found.get(key), int) and 0 < candidate.depth < found[key]:
                found[key] = candidate.depth
        config.write_text(json.dumps(found, indent=2) + "\n")
    if described is not None:
        provenance.write(out, described)
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
    drop_layers: bool = False,
    progress: Callable[[str], None] = lambda line: None,
) -> tuple[Outcome, Path]:
    """Export the teacher, split the data, run the search; return the outcome and the export
    folder (its tokenizer and config go beside a written student). ``model_options`` are
    ``load_model``'s keyword arguments for each candidate (the tokenizer is the export's)."""
    from pytest_compressguard.models import load_model

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
    found = Search(
        fp32,
        work,
        lambda path: load_model(str(path), **options),
        requirements,
        first,
        max_evaluations=max_evaluations,
        bootstrap=bootstrap,
        seed=seed,
        margin=margin,
        drop_layers=drop_layers,
        progress=progress,
    ).run(second)
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
        "layers": outcome.layers,
        "kept_layers": outcome.best.depth,
        "size_bytes": outcome.best.size_bytes,
        "size_ratio_to_teacher": outcome.best.size_bytes / outcome.teacher_bytes,
        "size_ratio_to_all_int8": outcome.best.size_bytes / outcome.all_int8.size_bytes,
        "parameter_bytes": outcome.best.parameter_bytes,
        "parameter_ratio_to_teacher": outcome.best.parameter_bytes
        / outcome.teacher_parameter_bytes,
        "parameter_ratio_to_all_int8": outcome.best.parameter_bytes
        / outcome.all_int8.parameter_bytes,
        "all_int8": measured(outcome.all_int8.measured),
        "calibration": measured(outcome.best.measured),
        "held_out": measured(outcome.held_out),
        "verified": outcome.verified,
        "sensitivity": {
            g: {"score": outcome.scores[g], **(measured(c.measured) or {})}
            for g, c in outcome.sensitivity.items()
        },
        "depth_moves": [
            {
                "layers": c.depth,
                "kept_fp32": list(c.kept),
                "size_bytes": c.size_bytes,
                **(measured(c.measured) or {}),
            }
            for c in outcome.depth_moves
        ],
        "evaluations": outcome.evaluations,
        "seconds": outcome.seconds,
        "notes": outcome.notes,
    }
