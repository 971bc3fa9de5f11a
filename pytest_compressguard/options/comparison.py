"""What the guard compares: the teacher, its students, the baselines and the eval sets."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_compressguard.options.option import Option, table
from pytest_compressguard.options.values import EvalSet, eval_spec, model_spec


@dataclass(frozen=True)
class ComparisonPart:
    teacher: str | None = None
    student: tuple[str, ...] = ()
    baseline: tuple[str, ...] = ()
    eval_data: tuple[str, ...] = ()


OPTIONS = table(
    ComparisonPart,
    Option(
        "--teacher",
        "teacher",
        "teacher model spec (directory, .onnx, Hub id or alias).",
        model_spec,
        metavar="SPEC",
    ),
    Option(
        "--student",
        "student",
        "student model spec; repeat for several students "
        "(prefix int8: or onnx-int8: to compress any spec on the fly).",
        model_spec,
        many=True,
        metavar="SPEC",
    ),
    Option(
        "--baseline",
        "baseline",
        "a released model each student must stay compatible with (typically "
        "snapshot:PATH of the student in production); every test using guard runs once "
        "against the teacher and once against each baseline; repeat for several.",
        model_spec,
        many=True,
        metavar="SPEC",
    ),
    Option(
        "--eval-data",
        "eval_data",
        "labelled evaluation data: .csv, .tsv, .txt (TSV), .jsonl, .json or "
        "hf:DATASET[:CONFIG]:SPLIT; repeat for several eval sets, each named NAME=PATH "
        "(default name: the file's stem); the guard runs on every one.",
        eval_spec,
        many=True,
        metavar="PATH",
    ),
)


def eval_sets(settings: ComparisonPart) -> tuple[EvalSet, ...]:
    """The ``--eval-data`` sets, named, in command-line order."""
    return tuple(EvalSet.parse(value) for value in settings.eval_data)
