#!/usr/bin/env bash
# Install what the tests need into .venv, then lint and run the test suite.
source "$(dirname "$0")/_venv.sh" test
cd "$ROOT"
# The HTML report is tested in a real browser: Debian's Chromium, driven by playwright.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    chromium >/dev/null || echo "could not install chromium: the browser test will not run" >&2
fi
"$VENV/bin/ruff" check .
# The layers contract (pyproject.toml, docs/ARCHITECTURE.md): an import that runs back up fails.
"$VENV/bin/lint-imports" --no-cache
set +e
"$PY" -m pytest tests -q -p no:randomly "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
