"""FD∞: the Fréchet distance extrapolated to infinitely many generated images (Chong & Forsyth 2020).

FID is biased upward by about c/N. The FD of random subsets of the generated features (without replacement) at the
sizes of `intervals.EXTRAPOLATION_SHARES` of N, `draws_per_size` subsets each, plus the FD at N, are fitted by a line
in 1/N and read at 1/N = 0 (`intervals.extrapolation_points` and `extrapolate_to_infinity`, the estimator the FID
intervals use). The reference features stay whole. Both the plain FD (`fd`, equal to the FID of the same backbone)
and `fd_infinity` are reported; `seed` fixes the subsets.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from xgem_bench.metrics.feature_sets import FeatureSetMetric


def fd_infinity(generated: np.ndarray, reference: np.ndarray, draws_per_size: int = 5, seed: int = 0) -> dict:
    from xgem_bench.intervals import extrapolate_to_infinity, extrapolation_points
    from xgem_bench.metrics.fid_resampling import fid_of_samples
    if len(generated) < 4:
        raise ValueError(f"FD∞ needs at least 4 generated images, got {len(generated)}")

    def statistic(rows):
        return fid_of_samples(rows, reference)

    value = statistic(generated)
    sizes, values = extrapolation_points(statistic, generated, value, np.random.default_rng(seed), draws_per_size)
    return {"fd_infinity": extrapolate_to_infinity(sizes, values), "fd": value}


class FDInfinity(FeatureSetMetric):
    name = "fd-infinity-inception"
    backbone_name = "inception"
    weights = ("fid-inception", "fid-inception-fid-helper")
    higher_is_better = False
    primary = "fd_infinity"
    resampleable_values = ("fd_infinity", "fd")

    @classmethod
    def set_settings(cls) -> dict[str, Any]:
        return {"draws_per_size": 5, "seed": 0}

    @staticmethod
    def values_of(generated, reference, settings):
        return fd_infinity(generated, reference, int(settings["draws_per_size"]), int(settings["seed"]))


class FDInfinityDinoV2(FDInfinity):
    name = "fd-infinity-dinov2"
    backbone_name = "dinov2"
    weights = ("dinov2-vitb14",)
