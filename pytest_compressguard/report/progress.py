"""Progress of long computations (attacks) on pytest's terminal.

On a terminal: a bar redrawn in place (examples done, successes, ETA). Elsewhere (CI logs, a
pipe): only the closing line per model.
"""

from __future__ import annotations

import os
import time
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

    def _write(self, text: str) -> None:
        reporter = self._reporter()
        if reporter is None:
            return
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if capture is None:
            reporter._tw.write(text, flush=True)
            return
        with capture.global_and_fixture_disabled():
            reporter._tw.write(text, flush=True)

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
        fresh = self._drawn or self._reporter()._tw.width_of_current_line == 0
        self._write(("" if fresh else "\n") + text + "\x1b[K")
        self._drawn = True

    def finish(self, line: str) -> None:
        if self._reporter() is None:
            return
        if self._drawn:
            self._write("\r" + line + "\x1b[K\n")
        else:
            fresh = self._reporter()._tw.width_of_current_line == 0
            self._write(("" if fresh else "\n") + line + "\n")
        self._drawn = False
