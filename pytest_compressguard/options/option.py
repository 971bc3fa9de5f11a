"""One option: its flag, its ini twin, its parser and how its help shows its default."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

from pytest_compressguard.options.values import text


@dataclass(frozen=True)
class Option:
    flag: str
    dest: str
    help: str
    parse: Callable[[str], Any] = text
    many: bool = False
    metavar: str = "VALUE"
    #: A flag without a value; its ini twin reads true/false (parse must be ``boolean``).
    switch: bool = False
    #: What the option means when it is not given, where its default is None.
    unset: str | None = None
    #: The value when neither the command line nor the ini file gives one: the default of
    #: the settings field it fills, set by :func:`table` (defaults are written only there).
    default: Any = None

    @property
    def ini(self) -> str:
        return f"compressguard_{self.dest}"

    @property
    def default_text(self) -> str | None:
        """The default as the help text shows it."""
        if self.switch:
            return "off"
        if self.default is None or self.default == ():
            return self.unset
        return str(self.default)


def table(part: type, *options: Option) -> tuple[Option, ...]:
    """A feature's options, in help order, each with its default from the field of ``part``
    (a dataclass) it fills; every field of ``part`` needs exactly one option."""
    defaults = {f.name: f.default for f in fields(part)}
    dests = [option.dest for option in options]
    if sorted(dests) != sorted(defaults):
        raise TypeError(f"{part.__name__}: options {dests} do not match its fields {[*defaults]}")
    return tuple(replace(option, default=defaults[option.dest]) for option in options)
