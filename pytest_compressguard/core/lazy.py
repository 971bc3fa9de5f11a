"""A value loaded on first use, whose load error is kept and raised again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from pytest_compressguard.core.errors import CompressGuardError

T = TypeVar("T")


class Lazy(Generic[T]):
    """A value loaded on first use; a CompressGuardError is kept and raised again."""

    def __init__(self, load: Callable[[], T] | None, absent: str) -> None:
        self._load = load
        self._absent = absent
        self._value: T | None = None
        self.error: CompressGuardError | None = None

    @classmethod
    def of(cls, value: T | None, absent: str) -> Lazy[T]:
        """A value known already, so loaded (or, for None, absent with the sentence
        ``absent``)."""
        lazy = cls((lambda: value) if value is not None else None, absent)
        lazy._value = value
        return lazy

    @property
    def loaded(self) -> bool:
        return self._value is not None

    @property
    def configured(self) -> bool:
        return self._load is not None

    def get(self) -> T:
        if self._value is None:
            if self.error is None and self._load is None:
                self.error = CompressGuardError(self._absent)
            if self.error is not None:
                raise self.error
            try:
                self._value = self._load()  # type: ignore[misc]
            except CompressGuardError as exc:
                self.error = exc
                raise
        return self._value
