"""FID on torchxrayvision DenseNet-121 `densenet121-res224-all` features (1024-d): the paper's "FID (XRV)" column.

Preprocessing and feature layer are named settings (see `backbones.XRVBackbone` and docs/metrics/image.md).
"""
from __future__ import annotations

from xgem_bench.metrics.fid import FrechetDistance


class FIDXRV(FrechetDistance):
    name = "fid-xrv"
    backbone_name = "xrv"
    weights = ("xrv-densenet121-res224-all",)

