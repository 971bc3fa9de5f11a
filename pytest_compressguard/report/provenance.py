"""The search's summary beside the student it wrote, read back for the gate's report.

The summary records the fingerprint of the ``model.onnx`` it describes (the one the gate
records for that student); a summary beside another model (the file replaced since) is not
read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_compressguard.core.errors import CompressGuardError

#: The summary's file name in the student's directory.
PROVENANCE = "compressguard-search.json"
_KEYS = ("all_int8", "kept_fp32", "sensitivity", "depth_moves", "teacher", "model_fingerprint")


def _fingerprint(folder: Path) -> str | None:
    from pytest_compressguard.models.base import local_fingerprint
    from pytest_compressguard.models.spec import parse_spec

    return local_fingerprint(parse_spec(str(folder / "model.onnx")))


def write(folder: Path, described: dict[str, Any]) -> Path:
    """The summary of the search beside the ``model.onnx`` it wrote in ``folder``."""
    target = folder / PROVENANCE
    found = {**described, "model_fingerprint": _fingerprint(folder)}
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
        if found["model_fingerprint"] != _fingerprint(folder):
            return None
    except (OSError, ValueError, CompressGuardError):  # unreadable, or no model.onnx there
        return None
    return found
