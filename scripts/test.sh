#!/usr/bin/env bash
# Install what the tests need into .venv, then lint and run the test suite.
source "$(dirname "$0")/_venv.sh" test
cd "$ROOT"
"$VENV/bin/ruff" check .
set +e
"$PY" -m pytest tests -q -p no:randomly "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
