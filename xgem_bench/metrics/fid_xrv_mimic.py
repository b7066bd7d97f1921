"""FID on a MIMIC-CXR-trained torchxrayvision DenseNet-121 (1024-d): the paper's "XRV-Mimic densenet" (Table A1).

The paper does not say which MIMIC model; the default `variant=mimic_ch` (trained on CheXpert-labeler labels, the label
convention of the whole paper) is argued in docs/metrics/image.md; `variant=mimic_nb` (NegBio labels) is selectable.
"""
from __future__ import annotations

from xgem_bench.metrics.fid import FrechetDistance


class FIDXRVMimic(FrechetDistance):
    name = "fid-xrv-mimic"
    backbone_name = "xrv-mimic"
    weights = ("xrv-densenet121-res224-mimic_ch", "xrv-densenet121-res224-mimic_nb")

