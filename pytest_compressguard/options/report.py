"""What the session writes: the JSON and HTML reports, the teacher's snapshot and the cache."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_compressguard.options.option import Option, table
from pytest_compressguard.options.values import snapshot_embeddings


@dataclass(frozen=True)
class ReportPart:
    json: str | None = None
    html: str | None = None
    cache_dir: str | None = None
    snapshot_update: str | None = None
    snapshot_embeddings: str = "float32"


OPTIONS = table(
    ReportPart,
    Option(
        "--compressguard-json",
        "json",
        "write the metrics and checks to PATH as JSON.",
        metavar="PATH",
    ),
    Option(
        "--compressguard-html",
        "html",
        "write a self-contained HTML report (verdicts, metrics with intervals, plots, the "
        "examples behind failed checks) to PATH.",
        metavar="PATH",
    ),
    Option(
        "--compressguard-snapshot-update",
        "snapshot_update",
        "write a snapshot of the teacher to PATH at the end of the session: its outputs on "
        "every dataset of the session, its attack results, size and settings; gate later runs "
        "against it with --teacher=snapshot:PATH, without the teacher's weights.",
        metavar="PATH",
    ),
    Option(
        "--snapshot-embeddings",
        "snapshot_embeddings",
        "precision of the embeddings a snapshot keeps: float32 (exact), float16 (half the "
        "size, relative error below 5e-4) or none (no representation or OOD metrics).",
        snapshot_embeddings,
        metavar="float32|float16|none",
    ),
    Option(
        "--compressguard-cache-dir",
        "cache_dir",
        "where exported/quantized models, model outputs and attack results are cached.",
        metavar="DIR",
        unset="pytest's cache dir",
    ),
)
