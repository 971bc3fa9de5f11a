"""Progress of long computations (attacks) on pytest's terminal.

On a terminal: a bar redrawn in place (examples done, successes, ETA). Elsewhere (CI logs, a
pipe): only the closing line per model. Written through the terminal reporter's public
``ensure_newline`` and ``write``, past pytest's output capture.
"""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from typing import Any

import pytest


class TerminalProgress:
    """Writes past pytest's output capture, as live logging does."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._started: dict[str, float] = {}
        self._drawn = False

    def _reporter(self) -> Any:
        return self.config.pluginmanager.get_plugin("terminalreporter")

    def _live(self) -> bool:
        reporter = self._reporter()
        return (
            reporter is not None
            and bool(reporter.isatty())
            and not os.environ.get("CI")
            and self.config.get_verbosity() >= 0
        )

    def _write(self, text: str, *, fresh_line: bool = False) -> None:
        """Write past the output capture; ``fresh_line`` first ends a line pytest began (the
        test file's progress dots)."""
        reporter = self._reporter()
        if reporter is None:
            return
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture is not None else nullcontext():
            if fresh_line:
                reporter.ensure_newline()
            reporter.write(text, flush=True)

    def update(self, label: str, done: int, total: int, successes: int) -> None:
        now = time.monotonic()
        start = self._started.setdefault(label, now)
        if not self._live():
            return
        width = 24
        filled = int(width * done / total) if total else width
        eta = (now - start) / done * (total - done) if done else float("nan")
        text = (
            f"\rcompressguard: attacking {label} [{'#' * filled}{'.' * (width - filled)}] "
            f"{done}/{total}, {successes} broken, ETA {eta:.0f} s"
            if done
            else f"\rcompressguard: attacking {label} [{'.' * width}] 0/{total}"
        )
        self._write(text + "\x1b[K", fresh_line=not self._drawn)
        self._drawn = True

    def finish(self, line: str) -> None:
        if self._reporter() is None:
            return
        if self._drawn:
            self._write("\r" + line + "\x1b[K\n")
        else:
            self._write(line + "\n", fresh_line=True)
        self._drawn = False
