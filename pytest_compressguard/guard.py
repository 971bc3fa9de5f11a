"""Guard: the ``assert_*`` surface of a comparison, bound to the test that asserts.

A :class:`Guard` holds a :class:`~pytest_compressguard.engine.comparison.Comparison` (the lazy
outputs, the metric cache, values and intervals) and adds what a gate needs on top: the
checks it made, the test they belong to, their ``--junitxml`` properties. Every other
attribute is the comparison's. The ``guard`` fixture is one; so is what
:meth:`Guard.from_arrays` and :meth:`Guard.from_answers` build from precomputed outputs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pytest_compressguard.assertions import Assertions
from pytest_compressguard.core.check import Check, NotRun
from pytest_compressguard.engine.checks import evaluate
from pytest_compressguard.engine.comparison import Comparison
from pytest_compressguard.engine.unreached import unreached


def _built(factory: Callable[..., Comparison]) -> Any:
    """A classmethod that wraps the comparison ``factory`` builds (same signature and doc)."""

    @functools.wraps(factory)
    def build(cls: type[Guard], *args: Any, **kwargs: Any) -> Guard:
        return cls(factory(*args, **kwargs))

    return classmethod(build)


class Guard(Assertions):
    """The checks of one comparison, each recorded in :attr:`checks`, passed or not.

    A check's metric that cannot be measured fails its assertion with the comparison's
    sentence. :meth:`for_test` binds a view to a test: its checks know their test and reach
    ``--junitxml``; every view of one comparison shares its checks, the assertions its tests
    never reached (:attr:`not_run`) and its metrics.
    """

    def __init__(
        self,
        comparison: Comparison,
        checks: list[Check] | None = None,
        test: str | None = None,
        properties: list[tuple[str, object]] | None = None,
        not_run: list[NotRun] | None = None,
    ) -> None:
        self.comparison = comparison
        self.checks: list[Check] = [] if checks is None else checks
        self.not_run: list[NotRun] = [] if not_run is None else not_run
        self._test = test
        self._properties = properties

    from_arrays = _built(Comparison.from_arrays)
    from_answers = _built(Comparison.from_answers)

    def __getattr__(self, name: str) -> Any:
        if name == "comparison":  # not set yet (a copy being made)
            raise AttributeError(name)
        return getattr(self.comparison, name)

    def __repr__(self) -> str:
        return f"<Guard {self.comparison.student} vs {self.comparison.teacher}>"

    def for_test(self, test: str, properties: list[tuple[str, object]] | None = None) -> Guard:
        """This guard as seen by one test: the same comparison and checks (shared), its
        checks recorded with ``test`` and added to the test's ``properties`` (JUnit XML)."""
        return Guard(self.comparison, self.checks, test, properties, self.not_run)

    def stopped(self, test: str, function: Callable[..., Any], error: BaseException) -> None:
        """Record as not run the assertions that ``function`` (the test ``test``) makes after
        the check that failed with ``error``, when its source tells them (see
        :mod:`pytest_compressguard.engine.unreached`); nothing when ``error`` is not the
        failure of the test's last check."""
        made = [c for c in self.checks if c.test == test]
        if not made or made[-1].passed or str(error) != made[-1].message:
            return
        reason = f"not reached: the test stopped at its first failed assertion ({made[-1].label})"
        for p in unreached(function, [c.metric for c in made]):
            param = p.param
            if param is None and p.param_name not in (None, "recipe"):
                param = self.comparison.ood_k  # as the check would have had it
            self.not_run.append(
                NotRun(p.metric, p.op, p.threshold, reason, test, p.param_name, param, p.confidence)
            )

    def _check(
        self,
        metric: str,
        threshold: float,
        param: int | str | None = None,
        confidence: float | None = None,
    ) -> None:
        """Evaluate and record one check (see :func:`pytest_compressguard.engine.checks.evaluate`);
        raise the failure's message."""
        __tracebackhide__ = True
        check = evaluate(self.comparison, metric, threshold, param, confidence, test=self._test)
        self.checks.append(check)
        if self._properties is not None:  # --junitxml shows them per test
            name = f"compressguard.{metric}"
            self._properties.append((name, f"{check.value:.6g}"))
            self._properties.append((f"{name}.threshold", f"{check.op} {threshold:g}"))
        if check.message is not None:
            raise AssertionError(check.message)
