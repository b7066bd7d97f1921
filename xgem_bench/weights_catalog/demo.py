"""The demo backbone: a DenseNet-121 trained here, on the demo's phantoms (xgem_bench/metrics/demo_backbone.py).

Built offline from this package (no download exists): the file name carries the hash of the training recipe, so a
changed recipe is a missing weight whose fix command builds the new one.
"""
from __future__ import annotations

from xgem_bench.metrics.demo_backbone import DEMO_BACKBONE_LABEL, WEIGHT_NAME, weight_filename
from xgem_bench.weights import WeightSpec, cache_root

WEIGHTS = [
    WeightSpec(
        name=WEIGHT_NAME,
        description=f"{DEMO_BACKBONE_LABEL}: torchvision DenseNet-121 trained on the demo's training phantoms to "
                    "predict their label vector; the XRV variant `demo` (demo data only)",
        used_by="fid-xrv, xrv-classification, hamming on the demo (variant=demo)",
        source=None,
        licence="built locally from synthetic data",
        filename=weight_filename(),
        directory=lambda: cache_root() / "weights",
        import_from="xgem-bench",
        converter="xgem_bench.metrics.demo_backbone:build_weight",
    ),
]
