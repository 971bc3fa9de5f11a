"""Writing a teacher snapshot (``--compressguard-snapshot-update``): the session's outputs of
its teacher in one verified file (the format and its reader:
:mod:`pytest_compressguard.models.snapshot`)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pytest_compressguard.core import cache
from pytest_compressguard.core.types import Encoded, QAOutputs
from pytest_compressguard.models.deferred import describe
from pytest_compressguard.models.snapshot import EMBEDDINGS, FORMAT, MANIFEST
from pytest_compressguard.session.state import SessionState


@dataclass(frozen=True)
class Entry:
    """One dataset's outputs to write: classifier outputs (``encoded``) or answers."""

    role: str  # "eval", "train" or "ood"
    name: str
    spec: str
    fingerprint: str
    n: int
    encoded: Encoded | None = None
    answers: QAOutputs | None = None
    #: a causal LM's named arrays (``embeddings`` among them, cast like the others)
    arrays: dict[str, np.ndarray] | None = None


@dataclass(frozen=True)
class AttackEntry:
    """One attack run on the model to write, under its snapshot key."""

    key: str
    recipe: str
    dataset: str
    settings: dict[str, Any]
    run: dict[str, Any]


def _cast(array: np.ndarray | None, dtype: str) -> np.ndarray | None:
    if array is None or dtype == "none":
        return None
    return np.asarray(array, dtype=dtype)


def _member_bytes(entry: Entry, embeddings: str) -> bytes:
    from pytest_compressguard.core.codecs import arrays_to_bytes, qa_to_bytes, to_bytes

    if entry.arrays is not None:
        named = dict(entry.arrays)
        vectors = _cast(named.pop("embeddings", None), embeddings)
        return arrays_to_bytes(named if vectors is None else {**named, "embeddings": vectors})

    if entry.answers is not None:
        from pytest_compressguard.core.types import QAOutputs

        vectors = _cast(entry.answers.embeddings, embeddings)
        if vectors is None:  # an answerer's entry always has its (N, 0) embedding array
            vectors = np.zeros((len(entry.answers.answers), 0), dtype=np.float32)
        return qa_to_bytes(QAOutputs(entry.answers.answers, vectors))
    assert entry.encoded is not None
    return to_bytes(
        Encoded(
            _cast(entry.encoded.probabilities, "float32"),
            _cast(entry.encoded.embeddings, embeddings),
        )
    )


def write(
    path: str | Path,
    *,
    model: dict[str, Any],
    settings: dict[str, Any],
    entries: Sequence[Entry],
    attacks: Sequence[AttackEntry] = (),
    embeddings: str = "float32",
) -> Path:
    """Write a snapshot atomically and return its path (see the module docstring).

    ``model`` holds ``spec`` and ``task`` beside the model's description
    (:func:`pytest_compressguard.models.deferred.describe`)."""
    if embeddings not in EMBEDDINGS:
        raise ValueError(f"embeddings must be one of {EMBEDDINGS}, got {embeddings!r}")
    members: dict[str, bytes] = {}
    datasets = []
    for entry in entries:
        member = f"outputs/{entry.fingerprint}.npz"
        if member not in members:
            members[member] = _member_bytes(entry, embeddings)
        datasets.append(
            {
                "role": entry.role,
                "name": entry.name,
                "spec": entry.spec,
                "fingerprint": entry.fingerprint,
                "n": entry.n,
                "member": member,
            }
        )
    runs = []
    for a in attacks:
        member = f"attacks/{a.key}.json"
        members[member] = json.dumps(a.run).encode()
        runs.append(
            {
                "key": a.key,
                "recipe": a.recipe,
                "dataset": a.dataset,
                "settings": a.settings,
                "member": member,
            }
        )
    from pytest_compressguard.core.version import __version__

    manifest: dict[str, Any] = {
        "format": FORMAT,
        "written_by": f"pytest-compressguard {__version__}",
        "model": model,
        "settings": settings,
        "precision": {
            "probabilities": "float32",
            "embeddings": embeddings,
            "qa_scores": "float64",
            "token_logprobs": "float32 top-k, float64 next token",
        },
        "datasets": datasets,
        "attacks": runs,
        "members": {name: cache.sha256(data) for name, data in sorted(members.items())},
    }
    manifest["sha256"] = cache.digest(manifest)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest, indent=1))
        for name, data in sorted(members.items()):
            archive.writestr(name, data)
    target = Path(path).expanduser()
    cache.write_atomic(target, buffer.getvalue())
    return target


def write_snapshot(
    state: SessionState, path: str, records: list[dict[str, Any]]
) -> tuple[Path, int]:
    """Write the teacher's snapshot (see :mod:`pytest_compressguard.models.snapshot`): its outputs
    on every dataset of the session and the attack runs the ``records`` show; return the
    file and the number of examples it holds outputs for."""
    s = state.settings
    assert s.teacher is not None
    model = state.model(s.teacher)
    task = state.task()
    keep_vectors = s.snapshot_embeddings != "none"
    entries: list[Entry] = []

    def add(role: str, name: str, data: Any) -> None:
        common = {"role": role, "name": name, "spec": data.spec, "n": len(data)}
        found = task.snapshot_entry(state.outputs, model, role, data, s)
        entries.append(Entry(**common, **found))

    for name in state.eval_sets:
        add("eval", name, state.dataset(name=name))
    if keep_vectors and s.ood_data:
        add("train", "train", state.dataset("train"))
        add("ood", "ood", state.dataset("ood"))
    attacks: list[AttackEntry] = []
    done: set[tuple[str, str]] = set()
    first = next(iter(state.eval_sets))
    for rec in records:
        recipes = ([s.recipes[0]] if "attack" in rec else []) + list(rec.get("attacks", {}))
        for recipe in recipes:
            name = rec.get("eval_set") or first
            if (name, recipe) in done:
                continue
            done.add((name, recipe))
            data = state.dataset(name=name)
            indices = state.attacks.sample(data)
            gold = data.label_indices(model.labels, model.num_labels)[indices]
            run = state.attacks.run(model, "teacher", data, indices, gold, recipe)
            settings = state.attacks.attack_settings(recipe)
            attacks.append(
                AttackEntry(
                    key=state.attacks.snapshot_key(settings, data, indices, gold),
                    recipe=recipe,
                    dataset=data.spec,
                    settings={
                        **state.attacks.described(settings, len(indices)),
                        # the content hashes of the masked LM or word vectors, the
                        # sentence encoder and the lexicon the run used
                        "parts": state.attacks.parts_fingerprint(settings),
                    },
                    run=run.to_json(),
                )
            )
    info = {
        # a snapshot's own model (re-snapshotting keeps the name of the model it holds)
        "spec": model.source_spec if model.spec.kind == "snapshot" else model.spec.text,  # type: ignore[attr-defined]
        "task": task.name,
        **describe(
            model, state.outputs.fingerprint(model), lambda: state.measurements.footprint(model)
        ),
    }
    target = write(
        path,
        model=info,
        settings=state.output_settings(),
        entries=entries,
        attacks=attacks,
        embeddings=s.snapshot_embeddings,
    )
    held = {e.fingerprint: e.n for e in entries}
    return target, sum(held.values())
