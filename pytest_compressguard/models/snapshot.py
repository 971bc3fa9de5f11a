"""Teacher snapshots: a model's outputs on a session's datasets, in one verified file.

``--compressguard-snapshot-update=PATH`` writes, for the session's teacher, what every metric
reads from it; ``--teacher=snapshot:PATH`` (or ``--student=snapshot:PATH``) is then a model
whose outputs come from the file, so a gate runs without the teacher's weights, and without
importing torch when every model is a snapshot.

A snapshot is a zip archive of ``manifest.json`` and one member per dataset
(``outputs/<fingerprint>.npz``, plain arrays read with ``allow_pickle=False``) and per attack
run (``attacks/<key>.json``). The manifest names the model (spec, content fingerprint, task,
labels, size, parameters), the settings that change its outputs, each dataset (spec, role,
size, the SHA-256 of its texts) and each attack run; it records the SHA-256 of every member
and its own (over the rest of the manifest). All are checked when the file is opened, and a
file is written through a temporary file renamed into place (by
:mod:`pytest_compressguard.session.snapshot`; this module reads).

A causal LM's member holds named arrays instead (see
:mod:`pytest_compressguard.tasks.lm_snapshot`).

Precision: class probabilities are kept as float32 (each value's relative error at most
2**-24, about 6e-8); embeddings as float32 (exact: the models give float32), float16 (relative
error at most 2**-11, about 4.9e-4) or not at all (``--snapshot-embeddings``); question
answering's null odds and candidate probabilities as float64 (exact).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_compressguard.core import cache
from pytest_compressguard.core.errors import (
    CompressGuardError,
    ModelLoadError,
    SnapshotSettingsError,
)
from pytest_compressguard.core.fingerprints import texts_fingerprint
from pytest_compressguard.core.types import Encoded, Text
from pytest_compressguard.models.base import OneOutput
from pytest_compressguard.models.footprint import recorded_footprint
from pytest_compressguard.models.spec import ModelSpec

if TYPE_CHECKING:
    from pytest_compressguard.core.types import Footprint, QAOutputs
    from pytest_compressguard.data.questions import Questions
    from pytest_compressguard.data.texts import Dataset

FORMAT = 1
MANIFEST = "manifest.json"
EMBEDDINGS = ("float32", "float16", "none")
#: How a message names each output setting: the option that sets it.
SETTING_FLAGS = {
    "task": "--task",
    "max_length": "--max-length",
    "pooling": "--pooling",
    "embedding_output": "--embedding-output",
    "tokenizer": "--tokenizer",
    "doc_stride": "--doc-stride",
    "n_best": "--n-best",
    "max_answer_length": "--max-answer-length",
    "null_threshold": "--null-threshold",
}


# -- reading ----------------------------------------------------------------------------------


class Snapshot:
    """A snapshot file, opened and verified: every member's SHA-256 and the manifest's own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        where = f"snapshot {path}"
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
                if MANIFEST not in names:
                    raise ModelLoadError(
                        f"{where} has no {MANIFEST}: it is no compressguard snapshot"
                    )
                manifest = json.loads(archive.read(MANIFEST))
                members = {name: archive.read(name) for name in names - {MANIFEST}}
        except FileNotFoundError:
            raise ModelLoadError(f"no snapshot file {path}") from None
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise ModelLoadError(
                f"{where} cannot be read as a compressguard snapshot (a zip archive with a "
                f"JSON manifest): {exc}"
            ) from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            found = manifest.get("format") if isinstance(manifest, dict) else None
            raise ModelLoadError(
                f"{where} has format {found!r}; this pytest-compressguard reads format {FORMAT} "
                "(write it again with --compressguard-snapshot-update)"
            )
        recorded = manifest.pop("sha256", None)
        if recorded != cache.digest(manifest):
            raise ModelLoadError(f"{where} is damaged: its manifest does not match its SHA-256")
        listed = manifest.get("members", {})
        for name in sorted(set(listed) | set(members)):
            if name not in members or name not in listed:
                raise ModelLoadError(
                    f"{where} is damaged: member {name} is "
                    + ("missing" if name not in members else "not in its manifest")
                )
            if cache.sha256(members[name]) != listed[name]:
                raise ModelLoadError(
                    f"{where} is damaged: member {name} does not match its SHA-256"
                )
        self.manifest = manifest
        self._members = members

    @property
    def model(self) -> dict[str, Any]:
        return self.manifest["model"]  # type: ignore[no-any-return]

    @property
    def task(self) -> str:
        return str(self.model["task"])

    @property
    def settings(self) -> dict[str, Any]:
        return self.manifest["settings"]  # type: ignore[no-any-return]

    @property
    def embeddings(self) -> str:
        return str(self.manifest["precision"]["embeddings"])

    def holds(self) -> str:
        """The datasets the snapshot holds, as a message lists them."""
        seen = {}
        for d in self.manifest["datasets"]:
            seen.setdefault(d["fingerprint"], f"{d['spec']} ({d['n']} examples)")
        return ", ".join(seen.values()) or "no dataset"

    def _member(self, fingerprint: str, what: str, n: int) -> bytes:
        for d in self.manifest["datasets"]:
            if d["fingerprint"] == fingerprint:
                return self._members[d["member"]]
        raise ModelLoadError(
            f"snapshot {self.path} holds no outputs for {what} ({n} examples, texts "
            f"fingerprint {fingerprint[:12]}): it holds {self.holds()}; write it again with "
            "--compressguard-snapshot-update on a session with this data"
        )

    def encoded(self, fingerprint: str, what: str, n: int) -> Encoded:
        """A classifier's outputs on the texts with this fingerprint: float64 probabilities
        and float32 embeddings, as a live model gives them."""
        from pytest_compressguard.core.codecs import from_bytes

        found = from_bytes(self._member(fingerprint, what, n))
        probabilities = found.probabilities
        vectors = found.embeddings
        return Encoded(
            None if probabilities is None else probabilities.astype(np.float64),
            None if vectors is None else vectors.astype(np.float32),
        )

    def arrays(self, fingerprint: str, what: str, n: int) -> dict[str, np.ndarray]:
        """A task's named arrays on the data with this fingerprint (a causal LM's)."""
        from pytest_compressguard.core.codecs import arrays_from_bytes

        return arrays_from_bytes(self._member(fingerprint, what, n))

    def answers(self, fingerprint: str, what: str, n: int) -> QAOutputs:
        """A question answerer's answers and embeddings on the questions with this
        fingerprint."""
        from pytest_compressguard.core.codecs import qa_from_bytes
        from pytest_compressguard.core.types import QAOutputs

        found = qa_from_bytes(self._member(fingerprint, what, n))
        return QAOutputs(found.answers, found.embeddings.astype(np.float32))

    def attack(self, key: str) -> dict[str, Any] | None:
        """The attack run stored under ``key`` (see ``AttackRunner.snapshot_key``), or None."""
        for a in self.manifest["attacks"]:
            if a["key"] == key:
                return json.loads(self._members[a["member"]])  # type: ignore[no-any-return]
        return None

    def attacks_held(self) -> str:
        """The attack runs the snapshot holds, as a message lists them."""
        runs = [
            f"{a['recipe']} (candidates {a['settings'].get('candidates')}, "
            f"{a['settings'].get('examples')} examples of {a['dataset']})"
            for a in self.manifest["attacks"]
        ]
        return ", ".join(runs) or "none"

    def check_settings(self, session: dict[str, Any]) -> None:
        """Refuse a session whose output settings differ from the snapshot's."""
        differ = [
            f"{SETTING_FLAGS.get(name, name)} {self.settings.get(name)!r} in the snapshot, "
            f"{value!r} in this session"
            for name, value in session.items()
            if self.settings.get(name) != value
        ]
        if differ:
            raise SnapshotSettingsError(
                f"snapshot {self.path} was written with other output settings: "
                + "; ".join(differ)
                + " (use the snapshot's settings, or write it again with "
                "--compressguard-snapshot-update)"
            )


@lru_cache(maxsize=16)
def _open(path: str, mtime_ns: int, size: int) -> Snapshot:
    return Snapshot(Path(path))


def open_snapshot(path: str | Path) -> Snapshot:
    """The verified snapshot at ``path``, opened once per process while the file is
    unchanged."""
    target = Path(path).expanduser().resolve()
    try:
        stat = target.stat()
    except OSError:
        raise ModelLoadError(f"no snapshot file {path}") from None
    return _open(str(target), stat.st_mtime_ns, stat.st_size)


class SnapshotModel(OneOutput):
    """A model whose outputs come from a snapshot: it answers only for the texts the snapshot
    holds, and has no latency (the live model is not there to time)."""

    per_example = False

    def __init__(self, spec: ModelSpec, settings: dict[str, Any] | None = None) -> None:
        self.spec = spec
        self.snapshot = open_snapshot(spec.source)
        if settings is not None:
            self.snapshot.check_settings(settings)
        model = self.snapshot.model
        self.task = self.snapshot.task
        labels = model.get("labels")
        self.labels: tuple[str, ...] | None = tuple(labels) if labels is not None else None
        self.num_labels: int | None = model.get("num_labels")
        self.missing: dict[str, str] = dict(model.get("missing") or {})
        if self.snapshot.embeddings == "none":
            self.missing["embeddings"] = (
                f"snapshot {spec.source} was written without embeddings "
                "(--snapshot-embeddings none)"
            )
        self.source_spec = str(model["spec"])

    def fingerprint(self) -> str:
        """The content fingerprint of the model the snapshot was taken of."""
        return str(self.snapshot.model["fingerprint"])

    def recorded_footprint(self) -> Footprint:
        """The size and parameter count of the model the snapshot was taken of."""
        return recorded_footprint(self.snapshot.model, f"snapshot {self.spec.source} holds no size")

    def footprint(self) -> Footprint:
        """The recorded footprint (see :meth:`recorded_footprint`)."""
        return self.recorded_footprint()

    def runtime(self) -> tuple[str, int]:
        """None to give: a snapshot is not run (see :meth:`latency_error`)."""
        raise CompressGuardError(self.latency_error())

    def arrays(self, data: Any) -> dict[str, np.ndarray]:
        """The stored named arrays of a causal LM on ``data`` (keyed by its fingerprint)."""
        return self.snapshot.arrays(data.fingerprint, data.spec, len(data))

    def outputs(self, dataset: Dataset) -> Encoded:
        """The stored outputs on a dataset (a clear error when the snapshot lacks them)."""
        return self.snapshot.encoded(dataset.texts_fingerprint, dataset.spec, len(dataset))

    def answers(self, questions: Questions) -> QAOutputs:
        """The stored answers to a question set."""
        return self.snapshot.answers(questions.fingerprint, questions.spec, len(questions))

    def encode(
        self, texts: Sequence[Text], *, probabilities: bool = True, embeddings: bool = True
    ) -> Encoded:
        """The stored outputs on exactly these texts."""
        self.require(probabilities, embeddings)
        what = f"these {len(texts)} texts (a live model is needed for texts of its own)"
        found = self.snapshot.encoded(texts_fingerprint(texts), what, len(texts))
        return Encoded(
            found.probabilities if probabilities else None,
            found.embeddings if embeddings else None,
        )

    def attack(self, key: str, described: str) -> dict[str, Any]:
        """The stored attack run under ``key``; a clear error naming what is held when the
        snapshot has none with these settings."""
        found = self.snapshot.attack(key)
        if found is None:
            raise ModelLoadError(
                f"snapshot {self.spec.source} holds no attack on {self.source_spec} with these "
                f"settings ({described}); it holds: {self.snapshot.attacks_held()}. An attack "
                "with new settings needs the live model: run it once with "
                "--compressguard-snapshot-update"
            )
        return found

    def latency_error(self) -> str:
        return (
            f"{self.spec.text}: latency needs the live model, and the snapshot holds only its "
            "outputs (its size and parameter count come from the snapshot)"
        )
