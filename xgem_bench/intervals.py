"""Interval methods over studies for statistics biased at finite N (FID and other set-level divergences).

FID estimated from N samples is biased upward by roughly c/N. A resample with replacement holds ~63% unique studies
and is biased again, so the percentile bootstrap is centred near truth + 2c/N and misses both the truth and its own
point estimate (issue 11). The methods here, each measured by `benchmarks/fid_interval_coverage.py` against the
analytic Fréchet distance of Gaussian features (coverage table in docs/metrics/image.md):

- `percentile`: quantiles of the bootstrap draws (with replacement).
- `basic` (reverse percentile): 2·θ̂ - quantiles of the same draws; its centre 2θ̂ - mean(θ*) removes the bias once.
- `bca`: bias-corrected and accelerated percentile interval; the acceleration from a delete-a-group jackknife.
- `subsampling`: m-out-of-n without replacement, m = n/2. The root θ_m - θ̂ has variance σ²(1/m - 1/n) and mean
  c(1/m - 1/n); with the finite-population rescaling √(m/(n-m)) both equal those of θ̂ - θ at m = n/2, so
  [θ̂ - q_hi, θ̂ - q_lo] of the rescaled root is centred on the bias-corrected θ̂ - c/n (half-sampling).
- `extrapolated`: θ at subsample sizes n/2 … n regressed on 1/m and extrapolated to 1/m = 0 (FID∞, Chong & Forsyth
  2020), with the rescaled half-sample spread around it.

Every interval records `estimate`: the point the interval is built around (θ̂ for percentile and BCa, the
bias-corrected point for the others), and whether it contains the reported value θ̂ (`contains_value`): a
bias-corrected interval of a strongly biased FID does not, and then it must be shown flagged, never silently.
"""
from __future__ import annotations

import math
from statistics import NormalDist
from typing import Callable

import numpy as np

METHODS = ("percentile", "basic", "bca", "subsampling", "extrapolated")
#: subsample size of `subsampling` and `extrapolated`, as a share of the studies (half-sampling)
SUBSAMPLE_SHARE = 0.5
#: subsample sizes (shares of n) whose values are extrapolated to infinite n
EXTRAPOLATION_SHARES = (0.5, 0.625, 0.75, 0.875)
JACKKNIFE_GROUPS = 20


def bootstrap_draws(statistic: Callable[[np.ndarray], float], rows: np.ndarray, n_resamples: int,
                    rng: np.random.Generator) -> np.ndarray:
    n = len(rows)
    return np.array([statistic(rows[rng.integers(0, n, size=n)]) for _ in range(n_resamples)], dtype=float)


def subsample_draws(statistic: Callable[[np.ndarray], float], rows: np.ndarray, m: int, n_resamples: int,
                    rng: np.random.Generator) -> np.ndarray:
    """The statistic of `n_resamples` subsamples of m rows drawn without replacement."""
    n = len(rows)
    return np.array([statistic(rows[np.sort(rng.permutation(n)[:m])]) for _ in range(n_resamples)], dtype=float)


def quantile_interval(draws: np.ndarray, level: float) -> tuple[float, float]:
    """The central `level` quantiles of the finite draws."""
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return float("nan"), float("nan")
    alpha = (1 - level) / 2
    low, high = np.quantile(finite, [alpha, 1 - alpha])
    return float(low), float(high)


def percentile(value: float, draws: np.ndarray, level: float) -> tuple[float, float, float]:
    low, high = quantile_interval(draws, level)
    return low, high, value


def basic(value: float, draws: np.ndarray, level: float) -> tuple[float, float, float]:
    low, high = quantile_interval(draws, level)
    return 2 * value - high, 2 * value - low, 2 * value - float(np.nanmean(draws))


def bca(value: float, draws: np.ndarray, level: float, jackknife: np.ndarray) -> tuple[float, float, float]:
    """Efron's BCa: bias correction z0 from the share of draws below θ̂, acceleration from the jackknife values."""
    finite = draws[np.isfinite(draws)]
    normal = NormalDist()
    share = (np.count_nonzero(finite < value) + 0.5 * np.count_nonzero(finite == value)) / max(finite.size, 1)
    share = min(max(share, 0.5 / max(finite.size, 1)), 1 - 0.5 / max(finite.size, 1))
    z0 = normal.inv_cdf(share)
    spread = jackknife.mean() - jackknife
    denominator = 6 * float((spread ** 2).sum()) ** 1.5
    acceleration = float((spread ** 3).sum()) / denominator if denominator > 0 else 0.0
    alpha = (1 - level) / 2
    shares = []
    for z in (normal.inv_cdf(alpha), normal.inv_cdf(1 - alpha)):
        shifted = z0 + (z0 + z) / (1 - acceleration * (z0 + z))
        shares.append(normal.cdf(shifted))
    low, high = np.quantile(finite, shares) if finite.size else (math.nan, math.nan)
    return float(low), float(high), value


def grouped_jackknife(statistic: Callable[[np.ndarray], float], rows: np.ndarray,
                      groups: int = JACKKNIFE_GROUPS) -> np.ndarray:
    """The statistic with each of `groups` contiguous blocks of rows left out (delete-a-group jackknife)."""
    blocks = np.array_split(np.arange(len(rows)), min(groups, len(rows)))
    keep = np.ones(len(rows), dtype=bool)
    values = []
    for block in blocks:
        keep[block] = False
        values.append(statistic(rows[keep]))
        keep[block] = True
    return np.array(values, dtype=float)


def half_sample_root(value: float, half_draws: np.ndarray, n: int, m: int) -> np.ndarray:
    """θ_m - θ̂ rescaled by √(m/(n-m)) (finite-population correction of subsampling without replacement)."""
    return (half_draws - value) * math.sqrt(m / (n - m))


def subsampling(value: float, root: np.ndarray, level: float) -> tuple[float, float, float]:
    low, high = quantile_interval(root, level)
    return value - high, value - low, value - float(np.nanmean(root))


def extrapolate_to_infinity(sizes: np.ndarray, values: np.ndarray) -> float:
    """Intercept of the least-squares line of values against 1/size: the value at infinitely many samples."""
    slope, intercept = np.polyfit(1.0 / np.asarray(sizes, float), np.asarray(values, float), 1)
    return float(intercept)


def extrapolated(infinite: float, root: np.ndarray, level: float) -> tuple[float, float, float]:
    low, high = quantile_interval(root - np.nanmean(root), level)
    return infinite - high, infinite - low, infinite


def extrapolation_points(statistic: Callable[[np.ndarray], float], rows: np.ndarray, value: float,
                         rng: np.random.Generator, per_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Sizes and mean statistic of `per_size` subsamples without replacement at each share, plus the full set."""
    n = len(rows)
    sizes, values = [n], [value]
    for share in EXTRAPOLATION_SHARES:
        m = max(2, int(round(share * n)))
        if m >= n:
            continue
        sizes.append(m)
        values.append(float(np.nanmean(subsample_draws(statistic, rows, m, per_size, rng))))
    return np.array(sizes), np.array(values)


def intervals(statistic: Callable[[np.ndarray], float], rows: np.ndarray, methods: tuple[str, ...],
              n_resamples: int, level: float, rng: np.random.Generator) -> dict[str, dict[str, float]]:
    """{method: {low, high, estimate, n_invalid}} for each method; methods needing the same draws share them."""
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown interval method(s) {sorted(unknown)}; choose from {', '.join(METHODS)}")
    n = len(rows)
    value = float(statistic(rows))
    out: dict[str, dict[str, float]] = {}
    if {"percentile", "basic", "bca"} & set(methods):
        draws = bootstrap_draws(statistic, rows, n_resamples, rng)
        invalid = int(np.count_nonzero(~np.isfinite(draws)))
        for method in ("percentile", "basic"):
            if method in methods:
                out[method] = _entry({"percentile": percentile, "basic": basic}[method](value, draws, level), invalid)
        if "bca" in methods:
            out["bca"] = _entry(bca(value, draws, level, grouped_jackknife(statistic, rows)), invalid)
    if {"subsampling", "extrapolated"} & set(methods):
        if n < 4:
            raise ValueError(f"subsampling needs at least 4 studies, got {n}")
        m = int(round(SUBSAMPLE_SHARE * n))
        half = subsample_draws(statistic, rows, m, n_resamples, rng)
        invalid = int(np.count_nonzero(~np.isfinite(half)))
        root = half_sample_root(value, half, n, m)
        if "subsampling" in methods:
            out["subsampling"] = _entry(subsampling(value, root, level), invalid)
        if "extrapolated" in methods:
            per_size = max(2, n_resamples // 20)
            sizes, values = extrapolation_points(statistic, rows, value, rng, per_size)
            sizes, values = np.append(sizes, m), np.append(values, np.nanmean(half))
            out["extrapolated"] = _entry(extrapolated(extrapolate_to_infinity(sizes, values), root, level), invalid)
    return out


def _entry(interval: tuple[float, float, float], n_invalid: int) -> dict[str, float]:
    low, high, estimate = interval
    return {"low": low, "high": high, "estimate": estimate, "n_invalid": n_invalid}
