"""``compressguard search``: the smallest int8 student of a teacher that passes the given
requirements, verified on held-out data and written as a model directory.

Options named as the plugin's mean what they mean there, and when not given are read from the
plugin's ini keys (``compressguard_teacher``, ``compressguard_eval_data``, ...) in the
``pytest.ini``, ``pyproject.toml``, ``tox.ini`` or ``setup.cfg`` of the working directory or
the nearest parent that has one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pytest_compressguard.core.errors import CompressGuardError

#: The plugin's options the search reads, by dest.
SHARED = (
    "teacher",
    "eval_data",
    "train_data",
    "ood_data",
    "text_column",
    "text_pair_column",
    "label_column",
    "tokenizer",
    "batch_size",
    "max_length",
    "pooling",
    "seed",
    "bootstrap",
)


#: Help of a shared option where the plugin's would say what the search does not do.
OWN_HELP = {
    "eval_data": "labelled data (the plugin's formats): --search-split divides it into a "
    "calibration and a held-out split; one set.",
    "batch_size": "examples per forward pass.",
    "max_length": "truncate inputs to N tokens.",
    "seed": "seed of the calibration/held-out split and of the bootstrap.",
    "bootstrap": "paired bootstrap resamples behind the interval of each requirement with a "
    "@CONFIDENCE; seeded with --seed.",
}


def ini_values(start: Path) -> dict[str, Any]:
    """The pytest ini section of the nearest configuration file (pytest's order of files)."""
    import iniconfig

    for folder in (start, *start.parents):
        for name, section in (
            ("pytest.ini", "pytest"),
            (".pytest.ini", "pytest"),
            ("pyproject.toml", None),
            ("tox.ini", "pytest"),
            ("setup.cfg", "tool:pytest"),
        ):
            path = folder / name
            if not path.is_file():
                continue
            if section is None:
                try:
                    import tomllib
                except ImportError:  # Python 3.10: pytest depends on tomli there
                    import tomli as tomllib  # type: ignore[no-redef]
                found = tomllib.loads(path.read_text(encoding="utf-8"))
                options = found.get("tool", {}).get("pytest", {}).get("ini_options")
                if options is not None:
                    return dict(options)
                continue
            config = iniconfig.IniConfig(str(path))
            if section in config:
                return dict(config[section].items())
            if name in ("pytest.ini", ".pytest.ini"):
                return {}
    return {}


def add_parser(commands: Any) -> None:
    """The ``search`` subcommand and its options."""
    from pytest_compressguard.options import OPTIONS

    parser = commands.add_parser(
        "search",
        help="find the smallest int8 student that passes behavioural requirements",
        description="Quantize the teacher to int8 except the operator groups that cost the "
        "required metrics most; verify the result on held-out data and write it.",
    )
    by_dest = {o.dest: o for o in OPTIONS}
    for dest in SHARED:
        option = by_dest[dest]
        parser.add_argument(
            option.flag,
            dest=dest,
            type=option.parse,
            metavar=option.metavar,
            help=OWN_HELP.get(dest, option.help),
        )
    parser.add_argument(
        "--require",
        action="append",
        default=[],
        metavar="REQ",
        help="METRIC>=VALUE or METRIC<=VALUE, optionally @CONFIDENCE "
        "(e.g. label_loyalty>=0.99@0.95); repeat for several.",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="where the student goes.")
    parser.add_argument(
        "--search-split",
        type=float,
        default=0.5,
        metavar="SHARE",
        help="share of the eval data that calibrates; the rest verifies. Default 0.5.",
    )
    parser.add_argument(
        "--search-max-evaluations",
        type=int,
        default=200,
        metavar="N",
        help="candidates measured at most. Default 200.",
    )
    parser.add_argument(
        "--search-margin",
        type=float,
        default=1.0,
        metavar="M",
        help="on the calibration split a requirement with a confidence must clear its "
        "threshold by M times half its interval's width. Default 1.",
    )
    parser.add_argument(
        "--search-drop-layers",
        action="store_true",
        help="once the int8 student passes, also drop upper encoder layers (the head is not "
        "re-trained) while a smaller student still passes.",
    )
    parser.add_argument(
        "--compressguard-json",
        dest="json",
        metavar="PATH",
        help="write the search's outcome (each requirement on both splits, the groups kept, "
        "the sizes) as JSON.",
    )
    parser.add_argument(
        "--compressguard-html",
        dest="html",
        metavar="PATH",
        help="write the search's report (requirements, sensitivity bar chart) as HTML.",
    )


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The shared options: the command line, else the ini key, else the plugin's default."""
    from pytest_compressguard.options import OPTIONS, Settings

    ini = ini_values(Path.cwd())
    by_dest = {o.dest: o for o in OPTIONS}
    out: dict[str, Any] = {}
    for dest in SHARED:
        value = getattr(args, dest)
        option = by_dest[dest]
        if value is None and option.ini in ini:
            raw = ini[option.ini]
            try:
                if option.many:
                    items = raw if isinstance(raw, list) else str(raw).split()
                    value = [option.parse(str(item)) for item in items]
                else:
                    value = option.parse(str(raw))
            except argparse.ArgumentTypeError as exc:
                raise CompressGuardError(f"{option.ini} = {raw!r} in the ini file: {exc}") from None
        out[dest] = value if value is not None else getattr(Settings(), dest)
    if isinstance(out["eval_data"], (list, tuple)):  # the ini key (or the default) lists sets
        if len(out["eval_data"]) > 1:
            raise CompressGuardError("the search takes one --eval-data set")
        out["eval_data"] = out["eval_data"][0] if out["eval_data"] else None
    return out


def run(args: argparse.Namespace) -> int:
    """Run the search; 0 when a verified student was written, 1 when none was, 2 for bad
    input."""
    from pytest_compressguard.search.requirements import parse

    try:
        s = _settings(args)
        if not s["teacher"] or not s["eval_data"]:
            raise CompressGuardError("the search needs --teacher and --eval-data")
        if not args.require:
            raise CompressGuardError("the search needs at least one --require")
        requirements = [parse(text) for text in args.require]
        outcome, lines = _search(s, args, requirements)
    except CompressGuardError as exc:
        print(f"compressguard search: {exc}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 0 if outcome.verified else 1


def _search(s: dict[str, Any], args: argparse.Namespace, requirements: list[Any]) -> Any:
    import tempfile

    from pytest_compressguard.data.texts import load_dataset
    from pytest_compressguard.models import load_model
    from pytest_compressguard.models.base import MAX_LENGTH
    from pytest_compressguard.options import EvalSet
    from pytest_compressguard.search.tune import search, summary, write_student

    spec = EvalSet.parse(s["eval_data"]).spec
    columns = {
        "text_column": s["text_column"],
        "pair_column": s["text_pair_column"],
        "label_column": s["label_column"],
    }
    data = load_dataset(spec, **columns, labels="required")
    options = {
        "batch_size": s["batch_size"],
        "max_length": s["max_length"] or MAX_LENGTH,
        "pooling": s["pooling"],
    }
    teacher = load_model(s["teacher"], tokenizer=s["tokenizer"], **options)
    if teacher.num_labels is None:
        raise CompressGuardError(f"{s['teacher']} has no classification head to search with")
    labels = data.label_indices(teacher.labels, teacher.num_labels)
    bank = ood = ()
    if s["train_data"] and s["ood_data"]:
        bank = load_dataset(s["train_data"], **columns, labels="ignored").texts
        ood = load_dataset(s["ood_data"], **columns, labels="ignored").texts
    work = Path(tempfile.mkdtemp(prefix="compressguard-search-"))
    outcome, folder = search(
        teacher,
        data.texts,
        labels,
        requirements,
        work,
        model_options=options,
        share=args.search_split,
        seed=s["seed"],
        max_evaluations=args.search_max_evaluations,
        bootstrap=s["bootstrap"],
        margin=args.search_margin,
        bank=bank,
        ood=ood,
        drop_layers=args.search_drop_layers,
        progress=lambda line: print(f"compressguard search: {line}", flush=True),
    )
    lines = report_lines(outcome, s["teacher"], len(data))
    described = {**summary(outcome), "teacher": s["teacher"], "data": spec, "n": len(data)}
    if outcome.verified:
        written = write_student(outcome.best, folder, Path(args.out), described)
        lines.append(f"compressguard search: student written to {written}")
    else:
        lines.append("compressguard search: no student written (none was verified)")
    if args.json:
        Path(args.json).write_text(json.dumps(described, indent=2) + "\n")
        lines.append(f"compressguard search: report written to {args.json}")
    if args.html:
        from pytest_compressguard.report.search_section import write

        write(args.html, described)
        lines.append(f"compressguard search: HTML report written to {args.html}")
    return outcome, lines


def report_lines(outcome: Any, teacher: str, n: int) -> list[str]:
    """The outcome as terminal lines."""

    def shown(measured: Any) -> str:
        return "; ".join(f"{key}: {_value(measured, key, 'bound ')}" for key in measured.point)

    best = outcome.best
    lines = [
        f"compressguard search: teacher {teacher}, {n} examples, {len(outcome.groups)} groups, "
        f"{outcome.evaluations} evaluations in {outcome.seconds:.0f} s",
        f"  all-int8: {outcome.all_int8.size_bytes / 1e6:.1f} MB, "
        f"{outcome.all_int8.size_bytes / outcome.teacher_bytes:.2f} of the teacher",
    ]
    ranked = sorted(outcome.scores, key=lambda g: -outcome.scores[g])
    if ranked:
        lines.append(
            "  sensitivity (gain when kept alone in float32): "
            + ", ".join(f"{g} {outcome.scores[g]:.2f}" for g in ranked[:8])
        )
    for move in outcome.depth_moves:
        lines.append(
            f"  dropping layers: {move.depth} of {outcome.layers} layers, {len(move.kept)} groups "
            f"float32, {move.size_bytes / 1e6:.1f} MB: {shown(move.measured)}"
        )
    layers = f"{best.depth} of {outcome.layers} layers; " if best.depth < outcome.layers else ""
    lines.append(
        f"  {layers}kept in float32: {', '.join(best.kept) or 'nothing'}; "
        f"{best.size_bytes / 1e6:.1f} MB = {best.size_bytes / outcome.teacher_bytes:.2f} of the "
        f"teacher, {best.size_bytes / outcome.all_int8.size_bytes:.2f} of all-int8; weights "
        f"{best.parameter_bytes / 1e6:.1f} MB = "
        f"{best.parameter_bytes / outcome.teacher_parameter_bytes:.2f} of the teacher's, "
        f"{best.parameter_bytes / outcome.all_int8.parameter_bytes:.2f} of all-int8's"
    )
    lines.extend(_table(outcome))
    lines.extend(f"  note: {note}" for note in outcome.notes)
    return lines


def _table(outcome: Any) -> list[str]:
    """Each requirement against all-int8 and the result on the calibration split, and the
    result on the held-out split: value, deciding bound in brackets, holds or MISSES."""

    def cell(measured: Any, key: str) -> str:
        return "-" if measured is None else _value(measured, key)

    header = ["requirement", "all-int8 (calibration)", "result (calibration)", "result (held out)"]
    rows = [
        [
            key,
            *(
                cell(m, key)
                for m in (outcome.all_int8.measured, outcome.best.measured, outcome.held_out)
            ),
        ]
        for key in outcome.all_int8.measured.point
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def _value(measured: Any, key: str, bound: str = "") -> str:
    """A requirement's point value, its deciding bound in brackets (after ``bound``) when it
    has a confidence level, and whether it holds."""
    found = f" ({bound}{measured.decisive[key]:.4f})" if key in measured.spread else ""
    return f"{measured.point[key]:.4f}{found} {'holds' if measured.holds[key] else 'MISSES'}"
