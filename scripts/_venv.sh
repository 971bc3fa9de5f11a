# Sourced by the scripts: make (or reuse) a virtual environment with the project installed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
# The CPU build of PyTorch first, named as such: on Linux a plain torch==2.13.0 from PyPI is
# the CUDA build (several GB). It comes from the configured indexes when they carry it (the
# reference machine's local wheel), else from PyTorch's CPU index. A GPU user sets
# COMPRESSGUARD_TORCH=torch==2.13.0 (PyPI's CUDA build) before running a script.
TORCH="${COMPRESSGUARD_TORCH:-torch==2.13.0+cpu}"
"$PY" -m pip install -q --disable-pip-version-check "$TORCH" 2>/dev/null ||
  "$PY" -m pip install -q --disable-pip-version-check "$TORCH" \
    --extra-index-url https://download.pytorch.org/whl/cpu
"$PY" -m pip install -q --disable-pip-version-check -e "$ROOT[$1]"
