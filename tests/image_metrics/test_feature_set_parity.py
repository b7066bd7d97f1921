"""KID, precision/recall/density/coverage, CMMD and FD∞ against their reference implementations on the same features.

References: torch-fidelity's `kid_features_to_metric` (same subsets, same seed), the `prdc` package's `compute_prdc`,
google-research/cmmd's `distance.mmd` (transcribed below from its JAX code path to NumPy: no JAX here), and for FD∞
the analytic Fréchet distance of Gaussian features."""
import numpy as np
import pytest

from xgem_bench.metrics.cmmd import cmmd
from xgem_bench.metrics.fd_infinity import fd_infinity
from xgem_bench.metrics.fid import frechet_distance
from xgem_bench.metrics.kid import kid
from xgem_bench.metrics.prdc import prdc


def features(n, d=16, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)) + shift).astype(np.float32)


@pytest.mark.slow  # importing torch-fidelity takes ~15 s on 2 cores
def test_kid_matches_torch_fidelity_same_subsets_and_seed(monkeypatch):
    import torch
    from torch_fidelity.metric_kid import kid_features_to_metric
    a, b = features(80, 32, 0.0, 1), features(70, 32, 0.3, 2)
    ours = kid(a.astype(np.float64), b.astype(np.float64), subsets=20, subset_size=50, subset_seed=2020)
    theirs = kid_features_to_metric(torch.from_numpy(a), torch.from_numpy(b), kid_subsets=20, kid_subset_size=50,
                                    kid_kernel="poly", kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None,
                                    kid_kernel_poly_coef0=1, rng_seed=2020, verbose=False)
    assert ours["kid"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-5)
    assert ours["kid_std"] == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-4)
    # sets too large for the whole-set kernel matrices: one kernel product per subset, same numbers
    monkeypatch.setattr("xgem_bench.metrics.kid.WHOLE_KERNEL_ENTRIES", 0)
    per_subset = kid(a.astype(np.float64), b.astype(np.float64), subsets=20, subset_size=50, subset_seed=2020)
    assert per_subset["kid"] == pytest.approx(ours["kid"], rel=1e-6)  # whole-set kernels are stored as float32
    # whole sets of equal size: one computation equals torch-fidelity's 20 reordered subsets
    ours = kid(a[:70].astype(np.float64), b.astype(np.float64), subset_size=1000)
    theirs = kid_features_to_metric(torch.from_numpy(a[:70]), torch.from_numpy(b), kid_subsets=20, kid_subset_size=70,
                                    kid_kernel="poly", kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None,
                                    kid_kernel_poly_coef0=1, rng_seed=2020, verbose=False)
    assert ours["subset_size_used"] == 70 and ours["subsets_used"] == 1
    assert ours["kid"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-5)


def test_kid_of_one_distribution_is_near_zero_and_grows_with_the_shift():
    same = kid(features(300, seed=1).astype(float), features(300, seed=2).astype(float))["kid"]
    far = kid(features(300, seed=1).astype(float), features(300, shift=1.0, seed=2).astype(float))["kid"]
    assert abs(same) < 0.05 < far


@pytest.mark.parametrize("k", [1, 3, 5])
def test_prdc_matches_the_prdc_package(k):
    from prdc import compute_prdc
    real, fake = features(90, 24, 0.0, 3), features(60, 24, 0.4, 4)
    ours = prdc(real.astype(np.float64), fake.astype(np.float64), nearest_k=k)
    theirs = compute_prdc(real_features=real.astype(np.float64), fake_features=fake.astype(np.float64), nearest_k=k)
    for key in ("precision", "recall", "density", "coverage"):
        assert ours[key] == pytest.approx(float(theirs[key]), abs=1e-12), key


def google_cmmd_mmd(x, y, sigma=10.0, scale=1000.0, dtype=np.float32):
    """google-research/cmmd distance.py `mmd`, line by line with jnp -> np (upstream runs it in float32)."""
    x, y = np.asarray(x, dtype), np.asarray(y, dtype)
    x_sqnorms = np.diag(np.matmul(x, x.T))
    y_sqnorms = np.diag(np.matmul(y, y.T))
    gamma = 1 / (2 * sigma**2)
    k_xx = np.mean(np.exp(-gamma * (-2 * np.matmul(x, x.T) + np.expand_dims(x_sqnorms, 1)
                                    + np.expand_dims(x_sqnorms, 0))))
    k_xy = np.mean(np.exp(-gamma * (-2 * np.matmul(x, y.T) + np.expand_dims(x_sqnorms, 1)
                                    + np.expand_dims(y_sqnorms, 0))))
    k_yy = np.mean(np.exp(-gamma * (-2 * np.matmul(y, y.T) + np.expand_dims(y_sqnorms, 1)
                                    + np.expand_dims(y_sqnorms, 0))))
    return scale * (k_xx + k_yy - 2 * k_xy)


def unit_rows(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_cmmd_matches_google_research_code_path_and_closed_form():
    x, y = unit_rows(features(50, 32, 0.0, 5)), unit_rows(features(40, 32, 0.5, 6))
    assert cmmd(x.astype(float), y.astype(float)) == pytest.approx(google_cmmd_mmd(x, y, dtype=np.float64), rel=1e-9)
    # upstream's float32: the means of kernels near 1 cancel, leaving ~1e-7·scale of rounding
    assert cmmd(x.astype(float), y.astype(float)) == pytest.approx(google_cmmd_mmd(x, y), abs=5e-4)
    assert cmmd(x.astype(float), x.astype(float)) == pytest.approx(0.0, abs=1e-9)
    # one point per set: 1000·(1 + 1 - 2·exp(-|p-q|²/200))
    p, q = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    assert cmmd(p, q) == pytest.approx(1000 * (2 - 2 * np.exp(-2 / 200)), rel=1e-12)


def test_fd_infinity_removes_most_of_the_finite_n_bias():
    d, errors_fd, errors_inf = 8, [], []
    reference = features(4000, d, 0.0, 7).astype(np.float64)
    mu_r, sigma_r = reference.mean(0), np.cov(reference, rowvar=False)
    truth = frechet_distance(np.full(d, 0.3), np.eye(d), mu_r, sigma_r)  # generated ~ N(0.3, I) exactly
    for seed in range(6):
        generated = features(40, d, 0.3, 100 + seed).astype(np.float64)
        values = fd_infinity(generated, reference, draws_per_size=10, seed=seed)
        errors_fd.append(values["fd"] - truth)
        errors_inf.append(values["fd_infinity"] - truth)
    assert np.mean(errors_fd) > 0.3  # FD at N = 40 is biased upward (about tr Σ/N-ish terms)
    assert abs(np.mean(errors_inf)) < 0.5 * np.mean(errors_fd)
