"""The assertions a test would have made after the one that stopped it, read from its source.

A test that fails at a gate's ``assert_*`` call skips the calls after it. They are found by
reading the test function's source with :mod:`ast`: its ``guard.assert_*(...)`` calls (and
the package-level twins, ``assert_*(guard, ...)``), in order. Only a test whose assertions
are each a plain statement of its body is read (not one inside a loop, a branch or a
``with`` block, whose order the source does not tell); for any other, or when the source
cannot be read, nothing is said.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_compressguard.metrics.catalogue import ASSERTIONS, Assertion, Metric

_BY_NAME: dict[str, tuple[Assertion, Metric]] = {a.name: (a, m) for a, m in ASSERTIONS}


@dataclass(frozen=True)
class Planned:
    """One ``assert_*`` call as the source spells it (None: not a literal number there)."""

    metric: str
    op: str
    threshold: float | None
    param_name: str | None
    param: int | str | None
    confidence: float | None


def unreached(function: Callable[..., Any], made: list[str], guard: str = "guard") -> list[Planned]:
    """The assertions of ``function`` after the ``made`` ones (their metrics, in call order),
    when its source says so for sure: [] when it cannot be read, when an assertion is not a
    statement of the function's body, or when ``made`` is not how its calls begin."""
    planned = _planned(function, guard)
    if planned is None or not made or [p.metric for p in planned[: len(made)]] != made:
        return []
    return planned[len(made) :]


def _planned(function: Callable[..., Any], guard: str) -> list[Planned] | None:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError, ValueError):
        return None
    node = tree.body[0] if tree.body else None
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    every = [call for call in ast.walk(node) if isinstance(call, ast.Call) and _named(call, guard)]
    statements = [
        s.value
        for s in node.body
        if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call) and _named(s.value, guard)
    ]
    if len(every) != len(statements):  # some assertion sits in a block: order unknown
        return None
    return [_read(call, _BY_NAME[_named(call, guard) or ""]) for call in statements]


def _named(call: ast.Call, guard: str) -> str | None:
    """The gate assertion ``call`` makes on ``guard`` (its helper's name), else None."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in _BY_NAME:
        return None
    if isinstance(func, ast.Attribute) and _is(func.value, guard):
        return name
    return name if call.args and _is(call.args[0], guard) else None


def _is(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _read(call: ast.Call, found: tuple[Assertion, Metric]) -> Planned:
    a, m = found
    given = {k.arg: _literal(k.value) for k in call.keywords if k.arg is not None}
    threshold = given.get(a.keyword, a.default)
    param = given.get(m.param.name, m.param.default) if m.param is not None else None
    confidence = given.get("confidence")
    return Planned(
        metric=m.name,
        op=m.op,
        threshold=float(threshold) if _number(threshold) else None,
        param_name=m.param.name if m.param is not None else None,
        param=param if isinstance(param, (int, str)) and not isinstance(param, bool) else None,
        confidence=float(confidence) if _number(confidence) else None,
    )


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
