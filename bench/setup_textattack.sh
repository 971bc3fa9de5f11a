#!/usr/bin/env bash
# TextAttack 0.3.11 in a virtual environment of its own (it needs transformers < 5, which the
# plugin's environment does not have), for bench/vs_textattack.py. NLTK's English stopword
# corpus, which TextAttack reads when imported, is written from the plugin's own stopword list
# (the list both attacks use), so nothing is downloaded from NLTK.
#   bash bench/setup_textattack.sh [VENV_DIR]     (default: .bench/textattack-venv)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${1:-$ROOT/.bench/textattack-venv}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
"${PIP[@]}" torch==2.13.0             # the local CPU wheel first: no CUDA packages
"${PIP[@]}" "textattack==0.3.11" "transformers<5"
STOP="$VENV/nltk_data/corpora/stopwords"
mkdir -p "$STOP"
python3 - "$ROOT/pytest_compressguard/attacks/stopwords.py" "$STOP/english" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("stopwords", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
open(sys.argv[2], "w").write("\n".join(sorted(module.STOPWORDS)) + "\n")
PY
HF_HUB_OFFLINE=1 "$VENV/bin/python" -c "import textattack, transformers; print('transformers', transformers.__version__)" 2>/dev/null
echo "$VENV"
