"""The shell scripts of the Quick start: a failing step says why."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def quietly(code: str) -> subprocess.CompletedProcess[str]:
    command = f'source {SCRIPTS / "_quiet.sh"}; quiet "{sys.executable}" -c "{code}"'
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True)


def test_a_failed_step_shows_its_stderr_and_exit_status():
    done = quietly("import sys; sys.stderr.write('the reason'); sys.exit(3)")
    assert done.returncode == 3
    assert "failed (exit 3):" in done.stderr
    assert done.stderr.rstrip().endswith("the reason")


def test_a_step_that_succeeds_keeps_its_warnings_back():
    done = quietly("import sys; sys.stderr.write('a warning'); print('out')")
    assert (done.returncode, done.stdout, done.stderr) == (0, "out\n", "")


def test_no_script_throws_a_failure_away():
    """A step whose stderr goes to /dev/null fails with no message (the demo's build did),
    unless a fallback that speaks follows it (``|| ...``)."""
    thrown = [
        f"{p.name}: {line.strip()}"
        for p in SCRIPTS.glob("*.sh")
        for line in p.read_text().splitlines()
        if "2>/dev/null" in line and not line.rstrip().endswith("||")
    ]
    assert thrown == []


def test_the_cpu_build_of_torch_is_named():
    """A plain torch==X requirement is the CUDA build on Linux: the scripts ask for +cpu."""
    text = (SCRIPTS / "_venv.sh").read_text()
    assert "torch==2.13.0+cpu" in text
    assert "download.pytorch.org/whl/cpu" in text
