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
        sha256="1ba5e387e7dadffa1c69a853967e5f385e2b6c2977dce465c5647cc40cc56b75",
        kind="folder",
        required_files=REQUIRED_FILES,
        import_from="xgem-bench",
        converter="xgem_bench.reference_model.demo_checkpoint:install",
    ),
]
