"""Scores of the utility experiments, checked against sklearn on the same inputs, and the balancing of prompts."""
import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from xgem_bench.utility.evaluate import fast_scores, scores, summarise, value_keys
from xgem_bench.utility.experiments import balancing_sources

CLASSES = ("Atelectasis", "Cardiomegaly", "Consolidation")


def _data(seed=0, n=60):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 3)) < [0.3, 0.5, 0.1]).astype(float)
    y[:3, 0] = np.nan  # undefined labels are left out of that class
    p = np.round(np.clip(0.4 * y + rng.random((n, 3)) * 0.6, 0, 1), 1)  # rounded: ties, as real scores have
    p[np.isnan(p)] = 0.5
    return y, p


def test_scores_equal_sklearn_per_class_and_averages():
    y, p = _data()
    values = scores(y, p, CLASSES, threshold=0.5)
    aucs, f1s, support = [], [], []
    for k, c in enumerate(CLASSES):
        defined = ~np.isnan(y[:, k])
        auc = roc_auc_score(y[defined, k], p[defined, k])
        f1 = f1_score(y[defined, k], p[defined, k] >= 0.5)
        assert values[f"auc/{c}"] == pytest.approx(auc)
        assert values[f"f1/{c}"] == pytest.approx(f1)
        aucs.append(auc), f1s.append(f1), support.append(y[defined, k].sum())
    defined = ~np.isnan(y)
    assert values["auc_micro"] == pytest.approx(roc_auc_score(y[defined], p[defined]))
    assert values["f1_micro"] == pytest.approx(f1_score(y[defined], p[defined] >= 0.5))
    assert values["auc_macro"] == pytest.approx(np.mean(aucs))
    assert values["f1_weighted"] == pytest.approx(np.average(f1s, weights=support))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_scores_equal_scores(seed):
    y, p = _data(seed)
    index = np.random.default_rng(seed).integers(0, len(y), len(y))  # a bootstrap resample, with repeats
    expected = scores(y[index], p[index], CLASSES, 0.5)
    np.testing.assert_allclose(fast_scores(y[index], p[index], 0.5), [expected[k] for k in value_keys(CLASSES)])


def test_summary_mean_sd_and_interval():
    y, p = _data()
    _, q = _data(seed=5)
    summary = summarise(y, [p, q], CLASSES, 0.5, n_resamples=200)
    first, second = scores(y, p, CLASSES, 0.5), scores(y, q, CLASSES, 0.5)
    assert summary["mean"]["auc_macro"] == pytest.approx((first["auc_macro"] + second["auc_macro"]) / 2)
    assert summary["sd"]["auc_macro"] == pytest.approx(np.std([first["auc_macro"], second["auc_macro"]], ddof=1))
    low, high = summary["interval"]["auc_macro"]
    assert low < summary["mean"]["auc_macro"] < high
    single = summarise(y, [p], CLASSES, 0.5, n_resamples=20)
    assert np.isnan(single["sd"]["f1_micro"]) and single["mean"]["f1_micro"] == pytest.approx(first["f1_micro"])


def test_balancing_brings_every_class_to_the_most_frequent():
    labels = np.zeros((40, 3))
    labels[:20, 0] = 1  # frequent
    labels[20:26, 1] = 1  # rarer
    labels[26:28, 2] = 1  # rare
    labels[27, 0] = 1  # a report stating a rare and a frequent finding
    picked = balancing_sources(labels, np.random.default_rng(0), CLASSES)
    counts = labels.sum(axis=0) + labels[picked].sum(axis=0)
    assert (counts >= labels.sum(axis=0).max()).all()  # every class reaches the most frequent one's 21
    assert counts[1] == 21  # no class is pushed past the target when its own prompts state nothing else
    assert set(picked) <= set(range(20, 28))  # only reports stating a class short of positives are asked for


def test_balancing_refuses_a_class_no_report_states():
    labels = np.zeros((10, 2))
    labels[:5, 0] = 1
    with pytest.raises(ValueError, match="cannot be balanced"):
        balancing_sources(labels, np.random.default_rng(0), ("Atelectasis", "Edema"))
