"""Precision, recall, density and coverage of generated image features (Naeem et al. 2020), as the `prdc` package.

Each set's k-NN radius of a point is the distance to its k-th nearest neighbour in the same set (itself excluded).
Precision: share of generated points inside some real point's ball; recall: share of real points inside some generated
point's ball; density: mean number of real balls holding a generated point, over k; coverage: share of real points
whose nearest generated point is inside their ball. Euclidean distances, strict `<`, as `prdc.compute_prdc`.
`nearest_k` (default 5, the package's recommendation) is a setting.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from xgem_bench.metrics.feature_sets import FeatureSetMetric, pairwise_sq_distances


def knn_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row to its k-th nearest other row."""
    if len(features) <= k:
        raise ValueError(f"precision/recall need more than nearest_k={k} images per set, got {len(features)}")
    distances = np.sqrt(pairwise_sq_distances(features, features))
    return np.partition(distances, k, axis=1)[:, k]  # column 0 of the sorted row is the point itself (0)


def prdc(real: np.ndarray, generated: np.ndarray, nearest_k: int = 5) -> dict[str, float]:
    real_radii, generated_radii = knn_radii(real, nearest_k), knn_radii(generated, nearest_k)
    distances = np.sqrt(pairwise_sq_distances(real, generated))  # (real, generated)
    inside_real = distances < real_radii[:, None]
    return {"precision": float(inside_real.any(axis=0).mean()),
            "recall": float((distances < generated_radii[None, :]).any(axis=1).mean()),
            "density": float(inside_real.sum(axis=0).mean() / nearest_k),
            "coverage": float((distances.min(axis=1) < real_radii).mean())}


class PRDC(FeatureSetMetric):
    name = "prdc-inception"
    backbone_name = "inception"
    weights = ("fid-inception", "fid-inception-fid-helper")
    primary = "precision"
    higher_is_better = True  # precision, recall, density and coverage: FID's "lower is better" is not inherited
    resampleable_values = ("precision", "recall", "density", "coverage")

    @classmethod
    def set_settings(cls) -> dict[str, Any]:
        return {"nearest_k": 5}

    @staticmethod
    def values_of(generated, reference, settings):
        return prdc(reference, generated, int(settings["nearest_k"]))


class PRDCRadDino(PRDC):
    name = "prdc-raddino"
    backbone_name = "raddino"
    weights = ("rad-dino",)


class PRDCDinoV2(PRDC):
    name = "prdc-dinov2"
    backbone_name = "dinov2"
    weights = ("dinov2-vitb14",)
