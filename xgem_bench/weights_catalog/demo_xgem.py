"""The demo's reference XGeM: the `tiny128` checkpoint bundled in the repository (reference_model/demo_checkpoint.py).

Installed offline from this package; the sha256 is that of the bundled folder, so an edited or partial copy is refused.
"""
from __future__ import annotations

from xgem_bench.reference_model.demo_checkpoint import REQUIRED_FILES, WEIGHT_NAME
from xgem_bench.weights import WeightSpec

WEIGHTS = [
    WeightSpec(
        name=WEIGHT_NAME,
        description="reference XGeM at the `tiny128` size, both variants (xgem, codi-xr), trained on the demo's "
                    "training phantoms by scripts/build_demo_checkpoint.sh (demo data only)",
        used_by="adapters xgem / codi-xr with checkpoint=demo (make demo)",
        source=None,
        licence="built from synthetic data; same licence as xgem-bench",
        filename=WEIGHT_NAME,
        sha256="bb20f68ad389d9ebe47d0bc2c03e96d7233643803594d4163411c13976b7f306",
        kind="folder",
        required_files=REQUIRED_FILES,
        import_from="xgem-bench",
        converter="xgem_bench.reference_model.demo_checkpoint:install",
    ),
]
