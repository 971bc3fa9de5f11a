"""Model outputs on disk, shared by the processes of one machine (xdist workers, reruns).

An entry is ``<dir>/outputs/<key>.npz`` (the arrays, read with ``allow_pickle=False``) and
``<key>.json`` (the key and the SHA-256 of the ``.npz`` bytes), written atomically, the
manifest last. The key hashes the model's content, the input settings and the texts (see
:func:`cache_key`). A damaged entry is ignored with a warning and computed again.

:func:`locked` serializes the check-compute-save of one key across processes, so that two
xdist workers needing the same model's outputs compute them once: the second waits, then
reads the first one's entry.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .models.base import Encoded

FORMAT = 1
OUTPUTS = ("probabilities", "embeddings")


def cache_key(parts: dict[str, Any]) -> str:
    """SHA-256 of the JSON of everything the outputs depend on, and of the cache format."""
    material = json.dumps({"format": FORMAT, **parts}, sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()


@contextmanager
def locked(directory: Path, name: str) -> Iterator[None]:
    """Hold the inter-process lock ``<directory>/locks/<name>.lock`` for the block."""
    from filelock import FileLock

    folder = directory / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / f"{name}.lock")):
        yield


def load(directory: Path, key: str) -> Encoded | None:
    """The cached outputs for ``key``, or None when absent or not intact."""
    manifest = directory / "outputs" / f"{key}.json"
    data = directory / "outputs" / f"{key}.npz"
    if not manifest.is_file():
        return None
    try:
        entry = json.loads(manifest.read_text(encoding="utf-8"))
        blob = data.read_bytes()
        intact = entry["key"] == key and entry["sha256"] == hashlib.sha256(blob).hexdigest()
        if intact:
            with np.load(io.BytesIO(blob), allow_pickle=False) as arrays:
                found = {name: arrays[name] if name in arrays else None for name in OUTPUTS}
    except (OSError, ValueError, KeyError, TypeError):
        intact = False
    if not intact:
        warnings.warn(
            f"compressguard: ignoring the damaged output cache entry {manifest}; "
            "computing the outputs again",
            stacklevel=2,
        )
        return None
    return Encoded(found["probabilities"], found["embeddings"])


def save(directory: Path, key: str, encoded: Encoded) -> None:
    """Write an entry atomically: the arrays, then the manifest that vouches for them."""
    folder = directory / "outputs"
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    arrays = {name: getattr(encoded, name) for name in OUTPUTS}
    np.savez(buffer, **{name: a for name, a in arrays.items() if a is not None})
    blob = buffer.getvalue()
    manifest = {"key": key, "sha256": hashlib.sha256(blob).hexdigest()}
    for suffix, content in ((".npz", blob), (".json", json.dumps(manifest).encode())):
        handle, name = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.replace(name, folder / f"{key}{suffix}")
