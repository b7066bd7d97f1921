"""CMMD: MMD between CLIP image embeddings with a Gaussian RBF kernel (Jayasumana et al. 2024, "Rethinking FID").

As google-research/cmmd `distance.mmd`: σ = 10, k(x, y) = exp(-|x-y|² / (2σ²)), the biased (V-statistic) estimate
mean K_xx + mean K_yy - 2 mean K_xy with the diagonals kept, times 1000. The embeddings are the L2-normalised
projected image embeddings of CLIP ViT-L/14@336 (the `clip` backbone), as cmmd's `embedding.py`. σ and the scale are
settings. CMMD makes no Gaussian assumption and is unbiased in the sense the paper means (no N-dependent offset as FID).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from xgem_bench.metrics.feature_sets import FeatureSetMetric, pairwise_sq_distances


def cmmd(x: np.ndarray, y: np.ndarray, sigma: float = 10.0, scale: float = 1000.0) -> float:
    gamma = 1.0 / (2 * sigma ** 2)

    def mean_kernel(a, b):
        return float(np.exp(-gamma * pairwise_sq_distances(a, b)).mean())

    return scale * (mean_kernel(x, x) + mean_kernel(y, y) - 2 * mean_kernel(x, y))


class CMMD(FeatureSetMetric):
    name = "cmmd-clip"
    backbone_name = "clip"
    weights = ("clip-vit-large-patch14-336",)
    higher_is_better = False
    primary = "cmmd"
    resampleable_values = ("cmmd",)

    @classmethod
    def set_settings(cls) -> dict[str, Any]:
        return {"sigma": 10.0, "scale": 1000.0}

    @staticmethod
    def values_of(generated, reference, settings):
        return {"cmmd": cmmd(generated, reference, float(settings["sigma"]), float(settings["scale"]))}
