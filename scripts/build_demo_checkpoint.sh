#!/usr/bin/env bash
# Rebuilds the bundled demo checkpoint (reference_model/checkpoints/tiny128-demo) from scratch: the `tiny128`
# reference XGeM and its CoDi-XR ablation trained on the demo's training split, on 2 CPU threads.
#   bash scripts/build_demo_checkpoint.sh [OUT]      (default OUT: the bundled folder, replaced)
# Then `.venv/bin/python benchmarks/xgem_tiny_quality.py --checkpoint OUT` prints its figures. Training is not
# bit-reproducible across machines, so a rebuilt folder has another sha256: the script prints it for the catalog
# entry (xgem_bench/weights_catalog/demo_xgem.py).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
out=${1:-reference_model/checkpoints/tiny128-demo}
work="$out.partial"  # a killed build resumes here (every stage resumes per epoch)
SECONDS=0
.venv/bin/xgem-bench train all --config tiny128 --variant both --threads 2 --checkpoint "$work"
.venv/bin/python -c "import sys; from xgem_bench.reference_model.demo_checkpoint import store_half; store_half(sys.argv[1])" \
  "$work"  # float16 files: both variants within 30 MB
rm -rf "$out" && mv "$work" "$out"
echo "built $out in $SECONDS s ($(du -sh "$out" | cut -f1))"
.venv/bin/python -c "import sys; from xgem_bench.weights import sha256_of; print('sha256', sha256_of(sys.argv[1]))" \
  "$out"
