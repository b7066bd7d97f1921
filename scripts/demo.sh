#!/usr/bin/env bash
# The main job on the bundled synthetic demo data: `xgem-bench run --task L+T->F` over every model available here.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
.venv/bin/xgem-bench run --task "L+T->F" --dataset demo "$@"
