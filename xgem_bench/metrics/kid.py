"""KID: Kernel Inception Distance (Bińkowski et al. 2018), as torch-fidelity computes it.

The unbiased estimate of MMD² with the polynomial kernel k(x, y) = (γ x·y + c)^degree (γ = 1/d by default, c = 1,
degree 3), averaged over `subsets` random subsets of `subset_size` rows drawn without replacement from each set with
`np.random.RandomState(subset_seed)`, the same draws as torch-fidelity's `kid_features_to_metric` (its default seed is
2020). torch-fidelity refuses sets smaller than the subset size; here the subset size is lowered to the smaller set
and the size used is recorded (`subset_size_used`). When both sets are exactly that size, every subset is the whole
set in another order and the estimate does not depend on the order, so it is computed once (`kid_std` is then 0).
KID is reported as is (many papers print KID×10³).
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from xgem_bench import once
from xgem_bench.metrics.feature_sets import FeatureSetMetric

logger = logging.getLogger(__name__)

#: largest total size of the three whole-set kernel matrices computed up front (float32: 0.4 GB; N = 5,773 per set)
WHOLE_KERNEL_ENTRIES = 100_000_000


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int, gamma: float | None, coef0: float) -> np.ndarray:
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    return (x @ y.T * gamma + coef0) ** degree


def unbiased_mmd2(k_xx: np.ndarray, k_xy: np.ndarray, k_yy: np.ndarray) -> float:
    """MMD² with the diagonals of the within-set kernels left out (equal set sizes m)."""
    m = len(k_xx)
    total = lambda k: k.sum(dtype=np.float64)  # noqa: E731 - float64 sums also for float32 kernels
    within = (total(k_xx) - np.trace(k_xx, dtype=np.float64) + total(k_yy) - np.trace(k_yy, dtype=np.float64))
    return float(within / (m * (m - 1)) - 2 * total(k_xy) / (m * m))


def kid(generated: np.ndarray, reference: np.ndarray, subsets: int = 100, subset_size: int = 1000, degree: int = 3,
        gamma: float | None = None, coef0: float = 1.0, subset_seed: int = 2020) -> dict[str, float]:
    """{kid, kid_std, subset_size_used, subsets_used} between two feature matrices."""
    n_g, n_r = len(generated), len(reference)
    m = min(subset_size, n_g, n_r)
    if m < 2:
        raise ValueError(f"KID needs at least 2 images per set, got {n_g} generated and {n_r} reference")

    def kernel(x, y):
        return polynomial_kernel(x, y, degree, gamma, coef0)

    if m == n_g == n_r:
        values = np.array([unbiased_mmd2(kernel(generated, generated), kernel(generated, reference),
                                         kernel(reference, reference))])
    else:
        rng = np.random.RandomState(subset_seed)
        draws = [(rng.choice(n_g, m, replace=False), rng.choice(n_r, m, replace=False)) for _ in range(subsets)]
        if n_g * n_g + n_r * n_r + n_g * n_r <= WHOLE_KERNEL_ENTRIES:
            # every subset reads the kernel matrices of the whole sets: one product each instead of one per subset
            # stored as float32 (0.4 GB at the limit): rounding ~1e-7 per entry, far below KID's subset spread
            k_gg, k_gr, k_rr = (kernel(x, y).astype(np.float32) for x, y in
                                ((generated, generated), (generated, reference), (reference, reference)))
            values = np.array([unbiased_mmd2(k_gg[np.ix_(g, g)], k_gr[np.ix_(g, r)], k_rr[np.ix_(r, r)])
                               for g, r in draws])
        else:
            values = np.array([unbiased_mmd2(kernel(generated[g], generated[g]), kernel(generated[g], reference[r]),
                                             kernel(reference[r], reference[r])) for g, r in draws])
    return {"kid": float(values.mean()), "kid_std": float(values.std()), "subset_size_used": float(m),
            "subsets_used": float(len(values))}


class KID(FeatureSetMetric):
    name = "kid-inception"
    backbone_name = "inception"
    weights = ("fid-inception", "fid-inception-fid-helper")
    higher_is_better = False
    primary = "kid"
    resampleable_values = ("kid",)

    @classmethod
    def set_settings(cls) -> dict[str, Any]:
        return {"subsets": 100, "subset_size": 1000, "degree": 3, "gamma": None, "coef0": 1.0, "subset_seed": 2020}

    @staticmethod
    def values_of(generated, reference, settings):
        values = kid(generated, reference, int(settings["subsets"]), int(settings["subset_size"]),
                     int(settings["degree"]), settings["gamma"], float(settings["coef0"]), int(settings["subset_seed"]))
        if values["subset_size_used"] < settings["subset_size"]:
            once.warn(logger, "kid-subset-size", f"KID: fewer images than subset_size={settings['subset_size']}; "
                      f"subsets of {int(values['subset_size_used'])} were used (recorded as subset_size_used)")
        return values


class KIDRadDino(KID):
    name = "kid-raddino"
    backbone_name = "raddino"
    weights = ("rad-dino",)


class KIDDinoV2(KID):
    name = "kid-dinov2"
    backbone_name = "dinov2"
    weights = ("dinov2-vitb14",)
