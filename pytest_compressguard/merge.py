"""``compressguard merge``: the JSON reports of several CI jobs (one student each, one teacher)
combined into one summary, one JSON report of the same shape and one HTML report.

Reports are merged only when every comparison in them was made against the same teacher (its
content fingerprint) and each eval set has the same content everywhere (its fingerprint):
anything else would put numbers side by side that measure different things.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_compressguard.core.errors import CompressGuardError


def read_report(path: Path) -> dict[str, Any]:
    """One JSON report, its comparisons checked for fingerprints (a clear error for anything
    else)."""
    from pytest_compressguard.report.json_report import VERSION

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CompressGuardError(f"no such report: {path}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CompressGuardError(f"{path} is not a JSON report: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("comparisons"), list):
        raise CompressGuardError(
            f"{path} is not a compressguard JSON report (no 'comparisons' list)"
        )
    if document.get("version") != VERSION:
        raise CompressGuardError(
            f"{path} is a version {document.get('version')!r} report; this pytest-compressguard "
            f"merges version {VERSION}"
        )
    for rec in document["comparisons"]:
        if "fingerprints" not in rec:
            raise CompressGuardError(
                f"{path}: the comparison of {rec.get('student')} records no fingerprints "
                "(written by an older pytest-compressguard, or from arrays): its teacher and "
                "eval data cannot be checked"
            )
    return document


def check_same(reports: Sequence[tuple[Path, list[dict[str, Any]]]]) -> None:
    """Refuse reports made against different teachers or on different eval data."""
    teachers: dict[str, tuple[str, str, Path]] = {}
    data: dict[str, tuple[str, Path]] = {}
    for path, records in reports:
        for rec in records:
            found = rec["fingerprints"]
            # the teacher of every report, and each --baseline (named by its spec) likewise
            role = "teacher" if "reference" not in rec else rec["teacher"]
            teacher = teachers.setdefault(role, (found["teacher"], rec["teacher"], path))
            if found["teacher"] != teacher[0]:
                raise CompressGuardError(
                    f"{teacher[2]} and {path} gate against different teachers: {teacher[1]} "
                    f"(fingerprint {teacher[0][:12]}) and {rec['teacher']} (fingerprint "
                    f"{found['teacher'][:12]}); merge the reports of one teacher"
                )
            name = rec.get("eval_set") or rec["dataset"]
            seen = data.setdefault(name, (found["eval_data"], path))
            if seen[0] != found["eval_data"]:
                raise CompressGuardError(
                    f"{seen[1]} and {path} hold different eval data named {name}: fingerprint "
                    f"{seen[0][:12]} and {found['eval_data'][:12]}; merge reports made on the "
                    "same data"
                )


def check_once(reports: Sequence[tuple[Path, list[dict[str, Any]]]]) -> None:
    """Refuse a report given twice, and two reports that hold the same comparison (the same
    pair on the same eval set): merging them would count its checks twice."""
    from pytest_compressguard.report.record import pair_key

    seen: dict[Path, Path] = {}
    held: dict[tuple[str, str, str, str | None], Path] = {}
    for path, records in reports:
        same = seen.setdefault(path.resolve(), path)
        if same is not path:
            raise CompressGuardError(f"{path} is given twice; give each report once")
        for rec in records:
            first = held.setdefault(pair_key(rec), path)
            if first is not path:
                on = rec.get("eval_set") or rec["dataset"]
                raise CompressGuardError(
                    f"{first} and {path} both hold the comparison of {rec['student']} with "
                    f"{rec['teacher']} on {on}; merge each comparison once (one job per student)"
                )


def merge_reports(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """The records of the reports, checked (:func:`check_once`, :func:`check_same`) and merged
    per pair and eval set, students in the order they first appear."""
    from pytest_compressguard.report.record import from_json, merge

    reports = [(Path(p), read_report(Path(p))["comparisons"]) for p in paths]
    check_once(reports)
    check_same(reports)
    records = [from_json(r) for _, found in reports for r in found]
    students = tuple(dict.fromkeys(r["student"] for r in records))
    eval_sets = tuple(dict.fromkeys(r["eval_set"] for r in records if "eval_set" in r))
    return merge(records, students, eval_sets)


def run(args: argparse.Namespace) -> int:
    """``compressguard merge``: print the merged summary and write the reports; exit 1 when
    a check failed, 2 when the reports cannot be merged (unreadable, given twice, holding the
    same comparison, or made against different teachers or eval data)."""
    try:
        records = merge_reports(args.reports)
    except CompressGuardError as exc:
        print(f"compressguard merge: {exc}", file=sys.stderr)
        return 2
    from pytest_compressguard.report import terminal

    for line in terminal.lines(records):
        print(line)
    if args.json:
        from pytest_compressguard.report import json_report

        json_report.write(args.json, records)
        print(f"compressguard: metrics written to {args.json}")
    if args.html:
        from pytest_compressguard.report import html

        html.write(args.html, records)
        print(f"compressguard: HTML report written to {args.html}")
    failed = sum(not check.passed for r in records for check in r["checks"])
    print(
        f"compressguard merge: {len(records)} comparisons from {len(args.reports)} reports, "
        f"{failed} failed checks"
    )
    return 1 if failed else 0


def add_parser(commands: Any) -> None:
    """The ``merge`` subcommand and its options."""
    merge = commands.add_parser(
        "merge",
        help="combine the JSON reports of several jobs (one teacher, the same eval data)",
        description="Combine the JSON reports of several jobs into one summary, one JSON "
        "report and one HTML report. Reports against different teachers, or on eval sets of "
        "different content, are refused.",
    )
    merge.add_argument("reports", nargs="+", metavar="REPORT", help="a --compressguard-json file")
    merge.add_argument(
        "--compressguard-json",
        dest="json",
        metavar="PATH",
        help="write the merged comparisons as one JSON report of the same shape.",
    )
    merge.add_argument(
        "--compressguard-html",
        dest="html",
        metavar="PATH",
        help="write the merged comparisons as one HTML report.",
    )
