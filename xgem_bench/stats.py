"""Uncertainty over studies: bootstrap confidence intervals and paired tests between two models.

Generic machinery only: no metric is named here. The unit of resampling is the study. Every statistic is described
by a `Resampleable`: one row of data per study and the function that turns any multiset of rows into the metric's
value. Means are the common case; metrics whose value is not a mean of per-study numbers (FID, corpus BLEU, AUC)
build their own statistic over per-study rows (`Metric.resampleable`, reached from a run through
`xgem_bench.recompute`), so a resample recomputes the metric exactly as the metric does (FID from cached per-study
features, never re-extracted).

Intervals are percentile bootstrap intervals, except for statistics biased at finite N: FID uses half-sampling
(m = n/2 without replacement, rescaled), chosen by the coverage simulation `benchmarks/fid_interval_coverage.py`
(see `xgem_bench.intervals`, `metrics/fid_resampling.py` and docs/metrics/image.md). Every interval records the point it is built around and
whether it contains the reported value. Paired tests align two models on the studies they share and report a
two-sided p-value from either the paired bootstrap (resample studies, centre the differences) or approximate
randomisation (swap the two models' rows per study at random). Every result carries its seed and resample count.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Callable, Sequence

import numpy as np

from xgem_bench.intervals import quantile_interval

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
DEFAULT_LEVEL = 0.95


@dataclass
class Resampleable:
    """One model's per-study data for one metric value, and the statistic that aggregates it."""

    study_ids: np.ndarray
    #: one row per study (first axis), any trailing shape
    rows: np.ndarray
    #: maps rows[indices] (indices may repeat) to the metric value
    statistic: Callable[[np.ndarray], float]
    #: how the statistic is built, for records (e.g. "mean of per-study bleu4")
    description: str = ""
    #: interval method of `xgem_bench.intervals` (FID: `subsampling`, chosen by measured coverage)
    interval_method: str = "percentile"
    #: how closely the statistic on all studies must give back the stored value (`check_reproduces`)
    rel_tol: float = 1e-6
    abs_tol: float = 1e-9

    def __post_init__(self):
        self.study_ids = np.asarray(self.study_ids).astype(str)
        self.rows = np.asarray(self.rows)
        if len(self.study_ids) != len(self.rows):
            raise ValueError(f"{len(self.study_ids)} study ids but {len(self.rows)} rows")
        if len(set(self.study_ids.tolist())) != len(self.study_ids):
            raise ValueError("study ids must be unique: one row per study")

    def __len__(self) -> int:
        return len(self.study_ids)

    def value(self) -> float:
        return float(self.statistic(self.rows))

    def subset(self, study_ids: Sequence[str]) -> "Resampleable":
        position = {sid: i for i, sid in enumerate(self.study_ids.tolist())}
        index = np.array([position[s] for s in study_ids], dtype=int)
        return replace(self, study_ids=self.study_ids[index], rows=self.rows[index])


def mean_of(values: Sequence[float], study_ids: Sequence[str], description: str = "mean") -> Resampleable:
    """The common case: the metric value is the mean of one number per study (NaNs, e.g. undefined rows, skipped)."""
    return Resampleable(np.asarray(study_ids), np.asarray(values, dtype=np.float64), _nanmean, description)


def _nanmean(rows: np.ndarray) -> float:
    finite = rows[~np.isnan(rows)]
    return float(finite.mean()) if finite.size else float("nan")


@dataclass
class Interval:
    value: float
    low: float
    high: float
    level: float
    method: str
    n_studies: int
    n_resamples: int
    seed: int
    #: resamples whose statistic was not finite (left out of the percentiles)
    n_invalid: int = 0
    #: the point the interval is built around: `value`, or a bias-corrected value (basic, subsampling, extrapolated)
    estimate: float | None = None

    @property
    def contains_value(self) -> bool:
        """Whether the interval holds the reported value; when not, it must be shown flagged (never silently)."""
        return bool(self.low <= self.value <= self.high)

    def to_dict(self) -> dict:
        return {**asdict(self), "contains_value": self.contains_value}


@dataclass
class PairedTest:
    method: str
    #: value(A) - value(B) on the shared studies
    difference: float
    value_a: float
    value_b: float
    p_value: float
    n_studies: int
    n_resamples: int
    seed: int
    #: percentile bootstrap interval of the difference (paired bootstrap only)
    low: float | None = None
    high: float | None = None
    level: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _resample_indices(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, n, size=n)


def bootstrap_ci(data: Resampleable, n_resamples: int = DEFAULT_RESAMPLES, level: float = DEFAULT_LEVEL,
                 seed: int = DEFAULT_SEED, method: str | None = None) -> Interval:
    """Interval of `data.statistic` over studies by `method` (default: the data's own, `data.interval_method`)."""
    from xgem_bench import intervals
    check_arguments(n_resamples, level)
    n = len(data)
    if n < 2:
        raise ValueError(f"a bootstrap interval needs at least 2 studies, got {n}")
    method = method or data.interval_method
    found = intervals.intervals(data.statistic, data.rows, (method,), n_resamples, level,
                                np.random.default_rng(seed))[method]
    return Interval(value=data.value(), low=found["low"], high=found["high"], level=level, method=method,
                    n_studies=n, n_resamples=n_resamples, seed=seed, n_invalid=found["n_invalid"],
                    estimate=found["estimate"])


def check_arguments(n_resamples: int, level: float) -> None:
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")


def align(a: Resampleable, b: Resampleable) -> tuple[Resampleable, Resampleable]:
    """Both models restricted to the studies they share, in the same order."""
    shared = sorted(set(a.study_ids.tolist()) & set(b.study_ids.tolist()))
    if len(shared) < 2:
        raise ValueError(f"a paired test needs at least 2 shared studies, the two models share {len(shared)}")
    return a.subset(shared), b.subset(shared)


def paired_bootstrap(a: Resampleable, b: Resampleable, n_resamples: int = DEFAULT_RESAMPLES,
                     level: float = DEFAULT_LEVEL, seed: int = DEFAULT_SEED) -> PairedTest:
    """Resample shared studies jointly; p = share of centred resampled differences at least as extreme as observed."""
    check_arguments(n_resamples, level)
    a, b = align(a, b)
    n = len(a)
    observed = a.value() - b.value()
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_resamples)
    for r in range(n_resamples):
        index = _resample_indices(rng, n)
        diffs[r] = a.statistic(a.rows[index]) - b.statistic(b.rows[index])
    finite = diffs[np.isfinite(diffs)]
    # Under H0 the differences are centred on 0: shift the bootstrap distribution by the observed difference.
    extreme = np.count_nonzero(np.abs(finite - observed) >= abs(observed) - 1e-12)
    low, high = quantile_interval(finite, level)
    return PairedTest(method="paired-bootstrap", difference=observed, value_a=a.value(), value_b=b.value(),
                      p_value=(extreme + 1) / (finite.size + 1), n_studies=n, n_resamples=n_resamples, seed=seed,
                      low=low, high=high, level=level)


def approximate_randomisation(a: Resampleable, b: Resampleable, n_resamples: int = DEFAULT_RESAMPLES,
                              seed: int = DEFAULT_SEED) -> PairedTest:
    """Swap the two models' rows of each shared study with probability 1/2; p = share of |differences| >= observed.

    Both sides must use the same statistic form (same metric and settings), since swapped rows are scored by it.
    """
    check_arguments(n_resamples, 0.5)
    a, b = align(a, b)
    if a.rows.shape[1:] != b.rows.shape[1:]:
        raise ValueError(f"rows of the two models differ in shape ({a.rows.shape[1:]} vs {b.rows.shape[1:]}); "
                         "approximate randomisation swaps rows and needs them interchangeable")
    n = len(a)
    observed = a.value() - b.value()
    rng = np.random.default_rng(seed)
    extreme = valid = 0
    for _ in range(n_resamples):
        swap = rng.random(n) < 0.5
        mask = swap.reshape((n,) + (1,) * (a.rows.ndim - 1))
        rows_a, rows_b = np.where(mask, b.rows, a.rows), np.where(mask, a.rows, b.rows)
        diff = a.statistic(rows_a) - a.statistic(rows_b)
        if np.isfinite(diff):
            valid += 1
            extreme += abs(diff) >= abs(observed) - 1e-12
    return PairedTest(method="approximate-randomisation", difference=observed, value_a=a.value(), value_b=b.value(),
                      p_value=(extreme + 1) / (valid + 1), n_studies=n, n_resamples=n_resamples, seed=seed)


PAIRED_TESTS: dict[str, Callable[..., PairedTest]] = {
    "bootstrap": paired_bootstrap,
    "randomisation": approximate_randomisation,
}


# ---- checks ------------------------------------------------------------------------------------------------------
class StatsUnavailable(ValueError):
    """The run does not hold what a resample of this value needs (per-study rows, cached features)."""


def check_reproduces(data: Resampleable, record: dict, key: str) -> Resampleable:
    """Refuse a statistic that does not give back the stored aggregate on all studies (no silently wrong CIs)."""
    stored, recomputed = float(record["values"][key]), data.value()
    if not math.isclose(stored, recomputed, rel_tol=data.rel_tol, abs_tol=data.abs_tol):
        raise StatsUnavailable(f"{record['metric']} {key}: {data.description} over the per-study rows gives "
                               f"{recomputed:.6g}, not the stored {stored:.6g}; the value is not resampleable "
                               "from per_sample.csv")
    return data
