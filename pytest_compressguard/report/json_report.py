"""The JSON report: ``{"version": 1, "comparisons": [...]}``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VERSION = 1


def build(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The report document for a list of comparison records."""
    return {"version": VERSION, "comparisons": records}


def write(path: str | Path, records: list[dict[str, Any]]) -> Path:
    """Write the report (creating parent directories) and return its path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(build(records), indent=2) + "\n", encoding="utf-8")
    return target
