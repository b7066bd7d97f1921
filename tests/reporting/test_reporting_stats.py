"""Bootstrap intervals and paired tests on synthetic problems whose answer is known."""
import numpy as np
import pytest

from xgem_bench import stats


def test_bootstrap_interval_covers_true_mean_at_nominal_rate():
    rng = np.random.default_rng(123)
    true_mean, hits, trials = 2.0, 0, 300
    for t in range(trials):
        x = rng.normal(true_mean, 1.0, size=60)
        ci = stats.bootstrap_ci(stats.mean_of(x, [f"s{i}" for i in range(60)]), n_resamples=400, seed=t)
        hits += ci.low <= true_mean <= ci.high
    coverage = hits / trials
    # percentile bootstrap at n=60: close to nominal (binomial s.e. at 300 trials is about 0.013)
    assert 0.90 <= coverage <= 0.985, coverage


def test_bootstrap_interval_of_non_mean_statistic_covers_true_variance():
    rng = np.random.default_rng(7)
    hits, trials = 0, 200
    for t in range(trials):
        x = rng.normal(0.0, 2.0, size=(150, 1))  # true variance 4
        data = stats.Resampleable(np.arange(150).astype(str), x, lambda rows: float(np.var(rows, ddof=1)))
        ci = stats.bootstrap_ci(data, n_resamples=300, seed=t)
        hits += ci.low <= 4.0 <= ci.high
    assert 0.85 <= hits / trials <= 0.99


def test_interval_records_settings_and_value():
    x = np.arange(10.0)
    ci = stats.bootstrap_ci(stats.mean_of(x, list("abcdefghij")), n_resamples=50, seed=5, level=0.9)
    assert ci.value == pytest.approx(4.5)
    assert (ci.n_resamples, ci.seed, ci.level, ci.n_studies) == (50, 5, 0.9, 10)
    assert ci.low <= 4.5 <= ci.high
    again = stats.bootstrap_ci(stats.mean_of(x, list("abcdefghij")), n_resamples=50, seed=5, level=0.9)
    assert (again.low, again.high) == (ci.low, ci.high)


def _pair(rng, n, shift):
    study_effect = rng.normal(0, 1.0, size=n)
    ids = [f"s{i}" for i in range(n)]
    a = study_effect + shift + rng.normal(0, 0.3, size=n)
    b = study_effect + rng.normal(0, 0.3, size=n)
    return stats.mean_of(a, ids), stats.mean_of(b, ids)


@pytest.mark.parametrize("test", ["bootstrap", "randomisation"])
def test_paired_test_detects_planted_difference(test):
    a, b = _pair(np.random.default_rng(0), 80, shift=0.25)
    result = stats.PAIRED_TESTS[test](a, b, n_resamples=500, seed=1)
    assert result.difference == pytest.approx(a.value() - b.value())
    assert result.p_value < 0.01


@pytest.mark.parametrize("test", ["bootstrap", "randomisation"])
def test_paired_test_false_positive_rate_under_null_is_near_nominal(test):
    rng = np.random.default_rng(1)
    rejections, trials = 0, 80
    for t in range(trials):
        a, b = _pair(rng, 40, shift=0.0)
        rejections += stats.PAIRED_TESTS[test](a, b, n_resamples=200, seed=t).p_value < 0.05
    assert rejections / trials <= 0.125


def test_paired_tests_use_only_shared_studies_in_the_same_order():
    a = stats.mean_of([1.0, 2.0, 3.0, 100.0], ["a", "b", "c", "only-a"])
    b = stats.mean_of([3.0, 1.0, 2.0], ["c", "a", "b"])
    result = stats.paired_bootstrap(a, b, n_resamples=100)
    assert result.n_studies == 3 and result.difference == pytest.approx(0.0)
    assert result.p_value > 0.5


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="unique"):
        stats.mean_of([1.0, 2.0], ["a", "a"])
    with pytest.raises(ValueError, match="at least 2"):
        stats.bootstrap_ci(stats.mean_of([1.0], ["a"]))
    with pytest.raises(ValueError, match="share 0"):
        stats.paired_bootstrap(stats.mean_of([1.0, 2.0], ["a", "b"]), stats.mean_of([1.0, 2.0], ["c", "d"]))
    with pytest.raises(ValueError, match="level"):
        stats.bootstrap_ci(stats.mean_of([1.0, 2.0], ["a", "b"]), level=95)
