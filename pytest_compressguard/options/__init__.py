"""The option table: each command-line flag, its ini twin and its validator, declared beside
the feature it configures and composed here.

The command line wins over the ini file. A bad value, from either, is a pytest usage error.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_compressguard.options import (
    attack,
    columns,
    comparison,
    encoding,
    evaluation,
    lm,
    ood,
    qa,
    report,
)
from pytest_compressguard.options.attack import AttackPart
from pytest_compressguard.options.columns import ColumnsPart
from pytest_compressguard.options.comparison import ComparisonPart, eval_sets
from pytest_compressguard.options.encoding import EncodingPart
from pytest_compressguard.options.evaluation import EvaluationPart
from pytest_compressguard.options.lm import LmPart
from pytest_compressguard.options.ood import OodPart
from pytest_compressguard.options.option import Option
from pytest_compressguard.options.qa import QaPart
from pytest_compressguard.options.report import ReportPart
from pytest_compressguard.options.values import (
    TASKS,
    EvalSet,
    boolean,
    data_spec,
    device,
    eval_spec,
    mlm,
    model_spec,
    non_negative_int,
    number,
    pooling,
    positive_int,
    qa_error,
    recipe,
    share,
    side,
    snapshot_embeddings,
    task,
    text,
    unit,
)

__all__ = [
    "GROUP",
    "OPTIONS",
    "TASKS",
    "EvalSet",
    "Option",
    "Settings",
    "boolean",
    "data_spec",
    "device",
    "eval_sets",
    "eval_spec",
    "mlm",
    "model_spec",
    "non_negative_int",
    "number",
    "pooling",
    "positive_int",
    "qa_error",
    "recipe",
    "register",
    "resolve",
    "share",
    "side",
    "snapshot_embeddings",
    "task",
    "text",
    "unit",
]

GROUP = "compressguard"

#: Every option, in the order ``--help`` and the README list them.
OPTIONS: tuple[Option, ...] = (
    *comparison.OPTIONS,
    *ood.OPTIONS,
    *attack.OPTIONS,
    *columns.OPTIONS,
    *encoding.OPTIONS,
    *qa.OPTIONS,
    *lm.OPTIONS,
    *evaluation.OPTIONS,
    *report.OPTIONS,
)


# A dataclass takes its bases' fields in reverse MRO order, so the parts are listed last
# first: the fields run from ``teacher`` (ComparisonPart) to ``snapshot_top_k`` (LmPart).
@dataclass(frozen=True)
class Settings(
    LmPart,
    QaPart,
    ReportPart,
    EvaluationPart,
    EncodingPart,
    ColumnsPart,
    AttackPart,
    OodPart,
    ComparisonPart,
):
    """The resolved value of every option, one part per feature. The parts' field defaults
    are the options' defaults: the help texts, ``Option.default`` and ``resolve`` read them
    from there."""


def register(parser: pytest.Parser) -> None:
    """Add the compressguard option group and its ini twins."""
    group = parser.getgroup(GROUP, "compressguard: behavioural checks of compressed models")
    for option in OPTIONS:
        shown = option.default_text
        help_ = option.help + (f" Default: {shown}." if shown else "") + f" Ini: {option.ini}."
        if option.switch:
            group.addoption(
                option.flag,
                dest=f"compressguard_{option.dest}",
                action="store_const",
                const=True,
                default=None,
                help=help_,
            )
        else:
            group.addoption(
                option.flag,
                dest=f"compressguard_{option.dest}",
                action="append" if option.many else "store",
                type=option.parse,
                default=None,
                metavar=option.metavar,
                help=help_,
            )
        parser.addini(
            option.ini,
            help=option.help.replace("%%", "%"),  # argparse escapes %; ini help does not
            type="linelist" if option.many else "string",
            default=[] if option.many else "",
        )


def resolve(config: pytest.Config) -> Settings:
    """The command line if given, else the ini value, else the default; validated."""
    values: dict[str, Any] = {}
    for option in OPTIONS:
        value = config.getoption(f"compressguard_{option.dest}")
        if value is None:
            raw = config.getini(option.ini)
            try:
                if option.many:
                    value = [option.parse(item) for item in raw]
                else:
                    value = option.parse(raw) if raw.strip() else None
            except argparse.ArgumentTypeError as exc:
                raise pytest.UsageError(f"{option.ini} = {raw!r} in the ini file: {exc}") from None
        if option.many:
            value = tuple(value or ()) or None
        if value is not None:
            values[option.dest] = value
    settings = Settings(**values)
    if settings.teacher and not settings.student:
        raise pytest.UsageError("compressguard: --teacher needs at least one --student")
    if settings.teacher and not settings.eval_data:
        raise pytest.UsageError("compressguard: --teacher needs --eval-data")
    if not settings.teacher and (
        settings.student
        or settings.baseline
        or settings.eval_data
        or settings.train_data
        or settings.ood_data
    ):
        raise pytest.UsageError(
            "compressguard: --student, --baseline, --eval-data, --train-data and --ood-data "
            "need --teacher"
        )
    if settings.teacher in settings.baseline:
        raise pytest.UsageError(
            f"compressguard: --baseline {settings.teacher} is the teacher; a baseline is "
            "another model (the released student)"
        )
    names = [e.name for e in eval_sets(settings)]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise pytest.UsageError(
            f"compressguard: two --eval-data sets are named {', '.join(twice)}; name them "
            "apart with NAME=PATH"
        )
    if settings.pairwise and not settings.teacher:
        raise pytest.UsageError(
            "compressguard: --compressguard-pairwise needs --teacher and --student"
        )
    if settings.snapshot_update and not settings.teacher:
        raise pytest.UsageError(
            "compressguard: --compressguard-snapshot-update needs --teacher (the model to "
            "snapshot), --student and --eval-data"
        )
    if settings.ood_data and not settings.train_data:
        raise pytest.UsageError(
            "compressguard: --ood-data needs --train-data (the in-distribution bank that "
            "Deep-KNN scores against)"
        )
    if settings.train_data and not settings.ood_data:
        raise pytest.UsageError(
            "compressguard: --train-data is used only with --ood-data (OOD agreement); "
            "pass both or neither"
        )
    return settings
