"""The JSON report: ``{"version": 1, "comparisons": [...]}``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VERSION = 1


def build(
    records: list[dict[str, Any]], pairwise: dict[str, Any] | list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The report document: the comparison records, and the pairwise table when made."""
    from pytest_compressguard.report.record import to_json

    document: dict[str, Any] = {"version": VERSION, "comparisons": [to_json(r) for r in records]}
    if pairwise is not None:
        document["pairwise"] = pairwise
    return document


def write(
    path: str | Path,
    records: list[dict[str, Any]],
    pairwise: dict[str, Any] | list[dict[str, Any]] | None = None,
) -> Path:
    """Write the report (creating parent directories) and return its path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(build(records, pairwise), indent=2)
    target.write_text(text + "\n", encoding="utf-8")
    return target
