"""The Fréchet distance against closed forms and pytorch-fid, and streamed statistics against batch ones."""
import numpy as np
import pytest
from pytorch_fid.fid_score import calculate_frechet_distance

from xgem_bench.metrics.fid import GaussianSums, frechet_distance


def random_spd(d, rng, n=None):
    x = rng.standard_normal((n or 3 * d, d)) @ rng.standard_normal((d, d)) / np.sqrt(d)
    return np.cov(x, rowvar=False)


def test_equal_covariances_give_squared_mean_distance():
    rng = np.random.default_rng(0)
    sigma = random_spd(32, rng)
    mu1, mu2 = rng.standard_normal(32), rng.standard_normal(32)
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(float(np.sum((mu1 - mu2) ** 2)), rel=1e-9,
                                                                   abs=1e-8)


def test_identity_against_four_identity_gives_dimension():
    for d in (1, 7, 256):
        assert frechet_distance(np.zeros(d), np.eye(d), np.zeros(d), 4 * np.eye(d)) == pytest.approx(d, rel=1e-12)


def test_diagonal_closed_form_including_singular_covariances():
    # commuting (diagonal) covariances: FID = |mu1-mu2|^2 + sum (sqrt(a) - sqrt(b))^2, zeros included (rank-deficient)
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0, 3, 50), rng.uniform(0, 3, 50)
    a[:10] = 0.0
    b[5:15] = 0.0
    mu1, mu2 = rng.standard_normal(50), rng.standard_normal(50)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_rotated_gaussians_closed_form():
    # the distance is invariant to a common rotation of both distributions
    rng = np.random.default_rng(2)
    q, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    a, b = rng.uniform(0.1, 2, 20), rng.uniform(0.1, 2, 20)
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = frechet_distance(np.zeros(20), q @ np.diag(a) @ q.T, np.zeros(20), q @ np.diag(b) @ q.T)
    assert got == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("d", [16, 128, 512])
def test_agrees_with_pytorch_fid_on_random_spd(d):
    rng = np.random.default_rng(d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d) * 0.1
    s1, s2 = random_spd(d, rng), random_spd(d, rng)
    ours, theirs = frechet_distance(mu1, s1, mu2, s2), calculate_frechet_distance(mu1, s1, mu2, s2)
    assert ours == pytest.approx(theirs, rel=1e-6)
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(ours, rel=1e-9)


def test_identical_statistics_give_zero():
    rng = np.random.default_rng(3)
    s = random_spd(64, rng)
    assert abs(frechet_distance(np.ones(64), s, np.ones(64), s)) < 1e-8 * np.trace(s)


def test_fewer_samples_than_dimensions_stays_real_and_finite():
    # rank-deficient covariances (N <= d): pytorch-fid's sqrtm route is where complex results come from
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((20, 64)), rng.standard_normal((20, 64)) + 0.5
    value = frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    assert np.isfinite(value) and value > 0


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="shape"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.zeros(2), np.array([[np.nan, 0], [0, 1]]), np.zeros(2), np.eye(2))


@pytest.mark.parametrize("batch", [1, 7, 64, 500])
def test_streamed_sums_equal_batch_statistics(batch):
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((300, 40)) * 3 + 10).astype(np.float32)  # float32 features, large mean
    sums = GaussianSums(40)
    for start in range(0, len(x), batch):
        sums.update(x[start:start + batch])
    mu, cov = sums.mean_cov_of()
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mu, x64.mean(0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(x64, rowvar=False), rtol=1e-9, atol=1e-10)


def test_too_few_samples_raise():
    sums = GaussianSums(3)
    sums.update(np.ones((1, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        sums.mean_cov_of()
