"""The one on-disk cache layer: keys, inter-process locks, atomic writes and verified reads.

Every cache of the plugin (model outputs, attack results, ``onnx-int8:`` builds) lives under
one directory, each kind in its own folder. An entry is written atomically (a temporary file
renamed into place) and carries a manifest with the SHA-256 of its bytes, written last, so a
reader sees either a whole entry or none; an entry whose checksum does not match is ignored
with a warning and rebuilt. A key is the SHA-256 of the JSON of everything the entry depends
on plus the kind's format number (bump it when the entry's meaning changes).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def digest(value: Any) -> str:
    """SHA-256 of the JSON of ``value`` (keys sorted)."""
    return sha256(json.dumps(value, sort_keys=True).encode())


def key(format_number: int, parts: Any) -> str:
    """The digest of ``parts`` and the format number."""
    return digest({"format": format_number, **parts})


def sha256(data: bytes) -> str:
    """The hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


@contextmanager
def locked(directory: Path, name: str) -> Iterator[None]:
    """Hold the inter-process lock ``<directory>/locks/<name>.lock`` for the block: processes
    on one machine (xdist workers) then check, compute and save an entry once."""
    from filelock import FileLock

    folder = directory / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / f"{name}.lock")):
        yield


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


class Store:
    """One kind of entry under ``<directory>/<kind>/``: ``<key><suffix>`` holds the bytes and
    ``<key>.json`` the manifest (the key and the bytes' SHA-256)."""

    def __init__(self, directory: Path, kind: str, suffix: str, what: str) -> None:
        self.folder = directory / kind
        self.suffix = suffix
        self.what = what  # how a warning names an entry: "output", "attack"

    def read(self, entry_key: str) -> bytes | None:
        """The entry's bytes, or None when absent or not intact (with a warning)."""
        manifest = self.folder / f"{entry_key}.json"
        if not manifest.is_file():
            return None
        try:
            recorded = json.loads(manifest.read_text(encoding="utf-8"))
            data = (self.folder / f"{entry_key}{self.suffix}").read_bytes()
            intact = recorded["key"] == entry_key and recorded["sha256"] == sha256(data)
        except (OSError, ValueError, KeyError, TypeError):
            intact = False
        if not intact:
            _damaged(self.what, manifest)
            return None
        return data

    def write(self, entry_key: str, data: bytes) -> Path:
        """Write an entry: the bytes, then the manifest that vouches for them."""
        path = self.folder / f"{entry_key}{self.suffix}"
        write_atomic(path, data)
        manifest = {"key": entry_key, "sha256": sha256(data)}
        write_atomic(self.folder / f"{entry_key}.json", json.dumps(manifest).encode())
        return path


class JsonStore:
    """One kind of self-contained JSON entry: ``<directory>/<kind>/<key>.json`` holds the key,
    the SHA-256 of the payload's JSON and the payload."""

    def __init__(self, directory: Path, kind: str, what: str) -> None:
        self.folder = directory / kind
        self.what = what

    def read(self, entry_key: str) -> Any | None:
        """The entry's payload, or None when absent or not intact (with a warning)."""
        path = self.folder / f"{entry_key}.json"
        if not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            intact = entry["key"] == entry_key and entry["sha256"] == digest(entry["payload"])
        except (OSError, ValueError, KeyError, TypeError):
            intact = False
        if not intact:
            _damaged(self.what, path)
            return None
        return entry["payload"]

    def write(self, entry_key: str, payload: Any) -> Path:
        """Write an entry atomically."""
        path = self.folder / f"{entry_key}.json"
        entry = {"key": entry_key, "sha256": digest(payload), "payload": payload}
        write_atomic(path, json.dumps(entry).encode())
        return path


def _damaged(what: str, path: Path) -> None:
    """Warn, pointing at the caller of the store's ``read``, that an entry is ignored."""
    warnings.warn(
        f"compressguard: ignoring the damaged {what} cache entry {path}; computing it again",
        stacklevel=4,
    )
