"""Uncertainty over studies: bootstrap confidence intervals and paired tests between two models.

The unit of resampling is the study. Every statistic is described by a `Resampleable`: one row of data per study and
the function that turns any multiset of rows into the metric's value. Means are the common case; metrics whose value
is not a mean of per-study numbers (FID, corpus BLEU, AUC) supply their own statistic over per-study rows, so a
resample recomputes the metric exactly as the metric does (FID from cached per-study features, never re-extracted).

Intervals are percentile bootstrap intervals, except for statistics biased at finite N: FID uses half-sampling
(m = n/2 without replacement, rescaled), chosen by the coverage simulation `benchmarks/fid_interval_coverage.py`
(see `xgem_bench.intervals` and docs/metrics/image.md). Every interval records the point it is built around and
whether it contains the reported value. Paired tests align two models on the studies they share and report a
two-sided p-value from either the paired bootstrap (resample studies, centre the differences) or approximate
randomisation (swap the two models' rows per study at random). Every result carries its seed and resample count.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
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
        return Resampleable(self.study_ids[index], self.rows[index], self.statistic, self.description,
                            self.interval_method)


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
    _check_arguments(n_resamples, level)
    n = len(data)
    if n < 2:
        raise ValueError(f"a bootstrap interval needs at least 2 studies, got {n}")
    method = method or data.interval_method
    found = intervals.intervals(data.statistic, data.rows, (method,), n_resamples, level,
                                np.random.default_rng(seed))[method]
    return Interval(value=data.value(), low=found["low"], high=found["high"], level=level, method=method,
                    n_studies=n, n_resamples=n_resamples, seed=seed, n_invalid=found["n_invalid"],
                    estimate=found["estimate"])


def _check_arguments(n_resamples: int, level: float) -> None:
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
    _check_arguments(n_resamples, level)
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
    _check_arguments(n_resamples, 0.5)
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


# ---- from the results store ---------------------------------------------------------------------------------------
class StatsUnavailable(ValueError):
    """The run does not hold what a resample of this value needs (per-study rows, cached features)."""


def run_resampleable(run: dict, model: str, record: dict, key: str) -> Resampleable:
    """Per-study data of value `key` of one metric record (an entry of results.json) of `model` in `run`."""
    if record.get("status") != "ok" or key not in record.get("values", {}):
        raise StatsUnavailable(f"{record.get('metric')} has no value {key!r} for {model}")
    return _builder(record["metric"])(run, model, record, key)


def per_sample_table(run: dict, model: str, record: dict):
    """The run's per-study values of one metric record: a DataFrame indexed by study_id, one column per key."""
    try:
        frame = _per_sample(run["run_dir"])
    except FileNotFoundError as error:
        raise StatsUnavailable(f"{run['run_dir']} has no per_sample.csv") from error
    rows = frame[(frame["model"] == model) & (frame["metric"] == record["metric"])
                 & (frame["modality"].astype(str) == str(record["modality"]))]
    if rows.empty:
        raise StatsUnavailable(f"per_sample.csv of {run['run_dir']} has no rows for {model}, {record['metric']}")
    return rows.pivot(index="study_id", columns="key", values="value")


@lru_cache(maxsize=16)
def _per_sample(run_dir: str):
    from xgem_bench.results import load_per_sample
    return load_per_sample(run_dir)


def _check_reproduces(data: Resampleable, record: dict, key: str, rel_tol: float = 1e-6,
                      abs_tol: float = 1e-9) -> Resampleable:
    """Refuse a statistic that does not give back the stored aggregate on all studies (no silently wrong CIs)."""
    stored, recomputed = float(record["values"][key]), data.value()
    if not math.isclose(stored, recomputed, rel_tol=rel_tol, abs_tol=abs_tol):
        raise StatsUnavailable(f"{record['metric']} {key}: {data.description} over the per-study rows gives "
                               f"{recomputed:.6g}, not the stored {stored:.6g}; the value is not resampleable "
                               "from per_sample.csv")
    return data


def _mean_of_per_sample(run: dict, model: str, record: dict, key: str) -> Resampleable:
    table = per_sample_table(run, model, record)
    if key not in table:
        raise StatsUnavailable(f"{record['metric']} records no per-study {key!r}")
    data = mean_of(table[key].to_numpy(dtype=np.float64), table.index, f"mean of per-study {key}")
    return _check_reproduces(data, record, key)


def _corpus_bleu(run: dict, model: str, record: dict, key: str) -> Resampleable:
    from xgem_bench.metrics.bleu import corpus_scores, stat_keys
    settings = record["settings"]
    columns = stat_keys(settings["max_n"])
    table = per_sample_table(run, model, record)
    if not key.startswith("bleu") or any(c not in table for c in columns):
        return _mean_of_per_sample(run, model, record, key)
    order = int(key[4:]) - 1

    def statistic(rows: np.ndarray) -> float:
        return float(corpus_scores(rows, settings["convention"], settings["smoothing"])[order])

    data = Resampleable(table.index, table[columns].to_numpy(dtype=np.float64), statistic,
                        f"{settings['convention']} BLEU from per-report n-gram counts")
    return _check_reproduces(data, record, key)


def fid_of_samples(generated: np.ndarray, reference: np.ndarray) -> float:
    """FID between two feature samples (rows). Samples smaller than the feature dimension d go through their Gram
    matrix: the non-zero eigenvalues of Σ1Σ2 = AᵀA·BᵀB (A, B the centred samples over √(n-1)) are the squared
    singular values of A·Bᵀ, so tr √(Σ1Σ2) is its nuclear norm: O(n·m·d) instead of O(d³) per resample."""
    from xgem_bench.metrics.fid import frechet_distance
    if max(len(generated), len(reference)) >= generated.shape[1]:
        return frechet_distance(generated.mean(0), np.cov(generated, rowvar=False), reference.mean(0),
                                np.cov(reference, rowvar=False))
    a = (generated - generated.mean(0)) / np.sqrt(len(generated) - 1)
    b = (reference - reference.mean(0)) / np.sqrt(len(reference) - 1)
    diff = generated.mean(0) - reference.mean(0)
    nuclear = np.linalg.svd(a @ b.T, compute_uv=False).sum()
    return float(diff @ diff + np.einsum("ij,ij->", a, a) + np.einsum("ij,ij->", b, b) - 2 * nuclear)


def _fid_from_features(run: dict, model: str, record: dict, key: str) -> Resampleable:
    """FID of resampled studies from the per-study features the FID metric saved (nothing is re-extracted).

    When the reference set is the real images of the same studies, a study's row holds both its generated and its
    real features, so a resample redraws both sets together; otherwise the reference statistics stay fixed.
    """
    if key != "fid":
        raise StatsUnavailable(f"{record['metric']} {key!r} is a count, not a resampleable value")
    from xgem_bench.metrics.fid import frechet_distance
    path = Path(run["run_dir"]) / "artifacts" / model / f"{record['metric']}-{record['modality']}.npz"
    if not path.exists():
        raise StatsUnavailable(f"no cached features at {path} (the run kept no FID artefacts)")
    with np.load(path) as archive:
        ids, generated = archive["generated_ids"].astype(str), archive["generated"].astype(np.float64)
        reference_ids, reference = archive["reference_ids"].astype(str), archive["reference"].astype(np.float64)
    dim = generated.shape[1]
    if sorted(ids.tolist()) == sorted(reference_ids.tolist()):
        order = {sid: i for i, sid in enumerate(reference_ids.tolist())}
        rows = np.concatenate([generated, reference[[order[s] for s in ids]]], axis=1)
        data = Resampleable(ids, rows, lambda r: fid_of_samples(r[:, :dim], r[:, dim:]),
                            "FID of resampled studies (generated and real features redrawn together)", "subsampling")
    elif len(reference) < dim:
        data = Resampleable(ids, generated, lambda r: fid_of_samples(r, reference),
                            "FID of resampled generated features against the fixed reference set", "subsampling")
    else:
        mu, sigma = reference.mean(0), np.cov(reference, rowvar=False)
        data = Resampleable(ids, generated, lambda r: frechet_distance(r.mean(0), np.cov(r, rowvar=False), mu, sigma),
                            "FID of resampled generated features against the fixed reference set", "subsampling")
    # FID is a difference of traces: allow for float32 features and cancellation at the scale of those traces
    scale = float(np.trace(np.cov(generated, rowvar=False)) + np.trace(np.cov(reference, rowvar=False)))
    return _check_reproduces(data, record, key, rel_tol=1e-4, abs_tol=1e-6 * scale)


def _chexpert_f1(run: dict, model: str, record: dict, key: str) -> Resampleable:
    """Label F1 of resampled studies from the per-study labels of generated and reference reports."""
    from xgem_bench.data.study import CHEXPERT_LABELS
    from xgem_bench.metrics.chexpert_f1 import f1_scores
    settings = record["settings"]
    table = per_sample_table(run, model, record)
    columns = [f"{side}/{name}" for side in ("gen", "ref") for name in CHEXPERT_LABELS]
    if key == "example_f1" or any(c not in table for c in columns):
        return _mean_of_per_sample(run, model, record, "example_f1" if key == "example_f1" else key)
    k = len(CHEXPERT_LABELS)

    def statistic(rows: np.ndarray) -> float:
        return f1_scores(rows[:, :k], rows[:, k:], settings["uncertain"], settings["blank"],
                         settings["average_over"])[key]

    data = Resampleable(table.index, table[columns].to_numpy(dtype=np.float64), statistic,
                        "CheXpert-label F1 from per-study generated and reference labels")
    return _check_reproduces(data, record, key)


def _xrv_classification(run: dict, model: str, record: dict, key: str) -> Resampleable:
    """AUC/F1 of resampled studies from per-study XRV outputs `p/<label>` and ground truth `y/<label>` (1/0/NaN)."""
    from xgem_bench.data.study import PAPER_PATHOLOGIES
    from xgem_bench.metrics.xrv_classification import classification_scores
    table = per_sample_table(run, model, record)
    columns = [f"{side}/{label}" for side in ("y", "p") for label in PAPER_PATHOLOGIES]
    missing = [c for c in columns if c not in table]
    if missing:
        raise StatsUnavailable(f"xrv-classification recorded no per-study {missing[0]!r}: AUC and F1 need each "
                               "study's ground truth and score")
    k = len(PAPER_PATHOLOGIES)

    def statistic(rows: np.ndarray) -> float:
        return classification_scores(rows[:, :k], rows[:, k:])[key]

    data = Resampleable(table.index, table[columns].to_numpy(dtype=np.float64), statistic,
                        "XRV AUC/F1 from per-study scores and labels")
    return _check_reproduces(data, record, key)


#: metrics of whole feature matrices (metrics/feature_sets.py): resampled from their features artefact
FEATURE_SET_PREFIXES = ("kid-", "prdc-", "cmmd-", "fd-infinity-")


def _builder(metric: str):
    if metric.startswith("fid-"):
        return _fid_from_features
    if metric.startswith(FEATURE_SET_PREFIXES):
        from xgem_bench.metrics.feature_sets import resampleable_from_artifact
        return resampleable_from_artifact
    return {"bleu": _corpus_bleu, "chexpert-f1": _chexpert_f1,
            "xrv-classification": _xrv_classification}.get(metric, _mean_of_per_sample)


def default_test(metric: str) -> str:
    """FID: approximate randomisation at fixed N (a resample with replacement inflates FID, see `intervals`)."""
    return "randomisation" if metric.startswith(("fid-",) + FEATURE_SET_PREFIXES) else "bootstrap"


def compare_models(runs: Sequence[dict], task: str, metric: str, key: str, model_a: str, model_b: str,
                   test: str | None = None, n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                   level: float = DEFAULT_LEVEL) -> dict:
    """Paired test of value `key` of `metric` between two models (table row labels) on the studies both scored;
    `test` None picks `default_test(metric)`."""
    from xgem_bench.tables import Measurements
    test = test or default_test(metric)
    if test not in PAIRED_TESTS:
        raise ValueError(f"unknown test {test!r}; choose {' or '.join(PAIRED_TESTS)}")
    measured = Measurements(runs)
    sides = []
    for model in (model_a, model_b):
        found = measured.record(task, model, metric)
        if found is None:
            raise ValueError(f"no successful {metric} result for model {model!r} on task {task} in these runs")
        sides.append(run_resampleable(found[0], measured.names[(task, model)], found[1], key))
    options = {"n_resamples": n_resamples, "seed": seed} | ({"level": level} if test == "bootstrap" else {})
    result = PAIRED_TESTS[test](*sides, **options)
    return {"task": task, "metric": metric, "key": key, "a": model_a, "b": model_b,
            "statistic": sides[0].description, **result.to_dict()}


def two_sample_fid_ci(features_a: np.ndarray, features_b: np.ndarray, n_resamples: int = DEFAULT_RESAMPLES,
                      level: float = DEFAULT_LEVEL, seed: int = DEFAULT_SEED) -> Interval:
    """Interval of the FID between two unpaired image sets (e.g. two folders) by half-sampling, the method chosen for
    FID by measured coverage (`intervals`): each draw takes half of each set without replacement; the interval is
    centred on the bias-corrected FID, so it may not contain the reported value (`contains_value`)."""
    from xgem_bench import intervals
    _check_arguments(n_resamples, level)
    n_a, n_b = len(features_a), len(features_b)
    if min(n_a, n_b) < 4:
        raise ValueError(f"a half-sampling interval of the FID needs at least 4 images per set, got {n_a} and {n_b}")
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    m_a, m_b = n_a // 2, n_b // 2
    rng = np.random.default_rng(seed)
    half = np.array([fid_of_samples(a[rng.choice(n_a, m_a, replace=False)], b[rng.choice(n_b, m_b, replace=False)])
                     for _ in range(n_resamples)])
    value = fid_of_samples(a, b)
    # both sets halved: the finite-population rescaling √(m/(n-m)) of the root is 1 (≈1 for odd sizes)
    low, high, estimate = intervals.subsampling(value, half - value, level)
    return Interval(value=value, low=low, high=high, level=level,
                    method="subsampling (half of each set, without replacement)", n_studies=n_a + n_b,
                    n_resamples=n_resamples, seed=seed, n_invalid=int(np.count_nonzero(~np.isfinite(half))),
                    estimate=estimate)
