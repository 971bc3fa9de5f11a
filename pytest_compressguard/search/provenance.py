"""The search's summary beside the student it wrote, read back for the gate's report.

The summary records the SHA-256 of the ``model.onnx`` it describes; a summary beside another
model (the file replaced since) is not read.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

#: The summary's file name in the student's directory.
PROVENANCE = "compressguard-search.json"
_KEYS = ("all_int8", "kept_fp32", "sensitivity", "depth_moves", "teacher", "model_sha256")


def _sha256(path: Path) -> str:
    """The file's SHA-256, read once per process while its size, time and inode stay."""
    found = path.stat()
    return _digest(str(path), found.st_size, found.st_mtime_ns, found.st_ino)


@functools.lru_cache(maxsize=16)
def _digest(path: str, size: int, mtime_ns: int, inode: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write(folder: Path, described: dict[str, Any]) -> Path:
    """The summary of the search beside the ``model.onnx`` it wrote in ``folder``."""
    target = folder / PROVENANCE
    found = {**described, "model_sha256": _sha256(folder / "model.onnx")}
    target.write_text(json.dumps(found, indent=2) + "\n", encoding="utf-8")
    return target


def read(spec: str) -> dict[str, Any] | None:
    """The summary of the search that wrote the student at ``spec`` (its directory, or its
    ``model.onnx``); None for another kind of spec, a directory without a search's summary,
    or a summary of another model than the one there."""
    path = Path(spec)
    try:
        folder = path if path.is_dir() else path.parent if path.is_file() else None
        if folder is None or not (folder / PROVENANCE).is_file():
            return None
        found = json.loads((folder / PROVENANCE).read_text(encoding="utf-8"))
        if not isinstance(found, dict) or not all(k in found for k in _KEYS):
            return None
        if found["model_sha256"] != _sha256(folder / "model.onnx"):
            return None
    except (OSError, ValueError):
        return None
    return found
