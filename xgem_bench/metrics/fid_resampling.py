"""FID over resampled studies: the FID of any sub-sample of feature rows, the FID metric's recomputation from the
features a run kept (for intervals and paired tests, nothing re-extracted), and the half-sampling interval between
two unpaired image sets (`xgem-bench fid --ci`)."""
from __future__ import annotations

import numpy as np

from xgem_bench.metrics.frechet import frechet_distance
from xgem_bench.stats import (DEFAULT_LEVEL, DEFAULT_RESAMPLES, DEFAULT_SEED, Interval, Resampleable, StatsUnavailable,
                               check_arguments)


def fid_of_samples(generated: np.ndarray, reference: np.ndarray) -> float:
    """FID between two feature samples (rows). Samples smaller than the feature dimension d go through their Gram
    matrix: the non-zero eigenvalues of Σ1Σ2 = AᵀA·BᵀB (A, B the centred samples over √(n-1)) are the squared
    singular values of A·Bᵀ, so tr √(Σ1Σ2) is its nuclear norm: O(n·m·d) instead of O(d³) per resample."""
    if max(len(generated), len(reference)) >= generated.shape[1]:
        return frechet_distance(generated.mean(0), np.cov(generated, rowvar=False), reference.mean(0),
                                np.cov(reference, rowvar=False))
    a = (generated - generated.mean(0)) / np.sqrt(len(generated) - 1)
    b = (reference - reference.mean(0)) / np.sqrt(len(reference) - 1)
    diff = generated.mean(0) - reference.mean(0)
    nuclear = np.linalg.svd(a @ b.T, compute_uv=False).sum()
    return float(diff @ diff + np.einsum("ij,ij->", a, a) + np.einsum("ij,ij->", b, b) - 2 * nuclear)


def fid_resampleable(stored, key: str) -> Resampleable:
    """FID of resampled studies from the per-study features the FID metric saved (`stored`: a
    `recompute.StoredRecord`).

    When the reference set is the real images of the same studies, a study's row holds both its generated and its
    real features, so a resample redraws both sets together; otherwise the reference statistics stay fixed.
    """
    if key != "fid":
        raise StatsUnavailable(f"{stored.metric} {key!r} is a count, not a resampleable value")
    path = stored.artifact()
    if not path.exists():
        raise StatsUnavailable(f"no cached features at {path} (the run kept no FID artefacts)")
    with np.load(path) as archive:
        ids, generated = archive["generated_ids"].astype(str), archive["generated"].astype(np.float64)
        reference_ids, reference = archive["reference_ids"].astype(str), archive["reference"].astype(np.float64)
    dim = generated.shape[1]
    # FID is a difference of traces: allow for float32 features and cancellation at the scale of those traces
    scale = float(np.trace(np.cov(generated, rowvar=False)) + np.trace(np.cov(reference, rowvar=False)))
    tolerance = {"interval_method": "subsampling", "rel_tol": 1e-4, "abs_tol": 1e-6 * scale}
    fixed = "FID of resampled generated features against the fixed reference set"
    if sorted(ids.tolist()) == sorted(reference_ids.tolist()):
        order = {sid: i for i, sid in enumerate(reference_ids.tolist())}
        rows = np.concatenate([generated, reference[[order[s] for s in ids]]], axis=1)
        return Resampleable(ids, rows, lambda r: fid_of_samples(r[:, :dim], r[:, dim:]),
                            "FID of resampled studies (generated and real features redrawn together)", **tolerance)
    if len(reference) < dim:
        return Resampleable(ids, generated, lambda r: fid_of_samples(r, reference), fixed, **tolerance)
    mu, sigma = reference.mean(0), np.cov(reference, rowvar=False)
    return Resampleable(ids, generated, lambda r: frechet_distance(r.mean(0), np.cov(r, rowvar=False), mu, sigma),
                        fixed, **tolerance)


def two_sample_fid_ci(features_a: np.ndarray, features_b: np.ndarray, n_resamples: int = DEFAULT_RESAMPLES,
                      level: float = DEFAULT_LEVEL, seed: int = DEFAULT_SEED) -> Interval:
    """Interval of the FID between two unpaired image sets (e.g. two folders) by half-sampling, the method chosen for
    FID by measured coverage (`intervals`): each draw takes half of each set without replacement; the interval is
    centred on the bias-corrected FID, so it may not contain the reported value (`contains_value`)."""
    from xgem_bench import intervals
    check_arguments(n_resamples, level)
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
