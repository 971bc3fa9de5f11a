"""The ``assert_*`` helpers and the prediction metrics' value methods, generated from the
catalogue.

:func:`source` writes them as Python: the methods of :class:`Assertions` (a base class of
:class:`~pytest_compressguard.guard.Guard`) and one package-level twin per method
(``assert_label_loyalty(guard, min=0.9)``). The module runs that text, so each helper has a
real signature and docstring for ``help()``; ``assertions.pyi`` beside this file is the same
text without bodies, for type checkers (``python -m pytest_compressguard.assertions`` writes
it; a test checks that it is current).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_compressguard.core.check import GENERATED
from pytest_compressguard.metrics.catalogue import ASSERTIONS, CATALOGUE, METRICS, Assertion, Metric

STUB = Path(__file__).with_suffix(".pyi")


def _parameters(a: Assertion, m: Metric) -> list[str]:
    bound = f"{a.keyword}: float" + (f" = {a.default!r}" if a.default is not None else "")
    out = [bound]
    if m.param is not None:
        kind = "str" if m.param.name == "recipe" else "int"
        kind += "" if m.param.default is not None else " | None"
        out.append(f"{m.param.name}: {kind} = {m.param.default!r}")
    if m.interval:
        out.append("confidence: float | None = None")
    return out


def _doc(a: Assertion, m: Metric) -> str:
    if a.keyword == "alpha":
        return a.doc
    sense = "at least" if a.keyword == "min" else "at most"
    doc = f"Fail unless {a.doc}"
    if m.param is not None and m.param.name == "batch":
        doc += f" at ``{m.param.name}``"
    doc += f" is {sense} ``{a.keyword}``"
    if m.interval:
        end = "lower" if a.keyword == "min" else "upper"
        doc += f" (with ``confidence``: unless the {end} bound of its interval is)"
    return doc + "."


def source(*, stub: bool = False) -> str:
    """The helpers as Python source (``stub``: signatures only, for the ``.pyi`` file)."""
    body = "..." if stub else None
    lines = [
        '"""Generated from the metric catalogue (pytest_compressguard.assertions): do not edit."""',
        "",
        "from __future__ import annotations",
        "",
    ]
    if stub:
        lines += ["from .guard import Guard", ""]
    helpers = sorted(a.name for a, _ in ASSERTIONS)
    lines += ["__all__ = ["] + [f'    "{name}",' for name in helpers] + ["]", ""]
    lines += ["", "class Assertions:", '    """Value methods and assertion helpers."""', ""]
    for m in CATALOGUE:
        if m.statistic is None:
            continue
        lines.append(f"    def {m.name}(self) -> float:")
        lines.append(f'        """{m.meaning[:1].upper() + m.meaning[1:]}."""')
        lines.append(f"        {body or f'return self.statistic_value({m.name!r})'}")
        lines.append("")
    for a, m in ASSERTIONS:
        params = ", ".join(_parameters(a, m))
        lines.append(f"    def {a.name}(self, *, {params}) -> None:")
        lines.append(f'        """{_doc(a, m)}"""')
        if stub:
            lines.append("        ...")
        else:
            lines.append("        __tracebackhide__ = True")
            param = m.param.name if m.param is not None else "None"
            confidence = "confidence" if m.interval else "None"
            lines.append(f"        self._check({m.name!r}, {a.keyword}, {param}, {confidence})")
        lines.append("")
    for a, m in ASSERTIONS:
        params = _parameters(a, m)
        lines.append("")
        lines.append(f"def {a.name}(guard: Guard, *, {', '.join(params)}) -> None:")
        lines.append(f'    """{_doc(a, m)}"""')
        if stub:
            lines.append("    ...")
        else:
            keywords = ", ".join(f"{p.split(':')[0]}={p.split(':')[0]}" for p in params)
            lines.append("    __tracebackhide__ = True")
            lines.append(f"    guard.{a.name}({keywords})")
    return "\n".join(lines) + "\n"


def _load() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": __name__, "METRICS": METRICS}
    exec(compile(source(), GENERATED, "exec"), namespace)
    return namespace


_namespace = _load()
Assertions: type = _namespace["Assertions"]
#: The package-level helpers, by name.
HELPERS: tuple[str, ...] = tuple(_namespace["__all__"])
__all__ = ["HELPERS", "Assertions", *HELPERS]
globals().update({name: _namespace[name] for name in _namespace["__all__"]})
for _function in (_namespace[name] for name in _namespace["__all__"]):
    _function.__module__ = "pytest_compressguard"
for _name in dir(Assertions):
    if not _name.startswith("_"):
        getattr(Assertions, _name).__module__ = __name__

if __name__ == "__main__":
    STUB.write_text(source(stub=True), encoding="utf-8")
    print(f"wrote {STUB}")
