"""The on-disk cache of attack results: plain JSON, verified before use.

An entry is ``<dir>/attacks/<key>.json`` holding the key, the SHA-256 of its payload and the
payload. The key hashes everything the result depends on (see :func:`cache_key`). An entry
whose key or checksum does not match is ignored, with a warning, and computed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

FORMAT = 1


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def cache_key(parts: dict[str, Any]) -> str:
    """SHA-256 of the JSON of everything a result depends on, and of the cache format."""
    return _digest({"format": FORMAT, **parts})


def load(directory: Path, key: str) -> dict[str, Any] | None:
    """The cached payload for ``key``, or None when absent or not intact."""
    path = directory / "attacks" / f"{key}.json"
    if not path.is_file():
        return None
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        intact = entry["key"] == key and entry["sha256"] == _digest(entry["payload"])
    except (OSError, ValueError, KeyError, TypeError):
        intact = False
    if not intact:
        warnings.warn(
            f"compressguard: ignoring the damaged attack cache entry {path}; attacking again",
            stacklevel=2,
        )
        return None
    return entry["payload"]


def save(directory: Path, key: str, payload: dict[str, Any]) -> Path:
    """Write an entry atomically (a temporary file renamed into place)."""
    folder = directory / "attacks"
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"key": key, "sha256": _digest(payload), "payload": payload}
    handle, name = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(entry, out)
    path = folder / f"{key}.json"
    os.replace(name, path)
    return path
