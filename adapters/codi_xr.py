"""`codi-xr`: the paper's ablation of XGeM without Multi-Prompt Training — the same architecture and sampler, with
LDMs that saw exactly one prompt modality per training step (`xgem-bench train ldm --no-multi-prompt`) and their own
alignment stage. Options as `xgem`."""
from __future__ import annotations

from xgem_bench.adapters.xgem import XGeMAdapter


class CoDiXRAdapter(XGeMAdapter):
    name = "codi-xr"
    description = "XGeM without Multi-Prompt Training (the paper's CoDi-XR ablation), reference_model/"
    variant = "codi-xr"
