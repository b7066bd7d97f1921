"""Issue 14 §2: a metric owns how its value is recomputed over studies. A metric defined only in this file (the median
of a per-study score, a value no mean can resample) gets table intervals and paired tests through the generic path,
without any edit to `stats`."""
import numpy as np
import pytest
from reporting_fixtures import make_run

from xgem_bench import stats
from xgem_bench.measurements import Measurements, compare_models
from xgem_bench.metrics import METRICS
from xgem_bench.metrics.base import Metric
from xgem_bench.recompute import run_resampleable


class MedianLength(Metric):
    name = "median-length"
    kind = "text"
    primary = "median"
    paired_test = "randomisation"

    def __init__(self, context, **settings):
        super().__init__(context, **settings)
        self.add_state("lengths", [], "extend")

    def update(self, samples):
        for sample in samples:
            length = float(len(self.generated_of(sample).split()))
            self.lengths.append(length)
            self.record(sample.study.study_id, length=length)

    def compute(self):
        return {"median": float(np.median(self.lengths)), "n": len(self.lengths)}

    @classmethod
    def resampleable(cls, stored, key):
        if key != "median":
            return super().resampleable(stored, key)
        return stored.rows(["length"], lambda rows: float(np.median(rows[:, 0])), "median of per-study length")


@pytest.fixture
def median_runs(tmp_path, monkeypatch):
    monkeypatch.setitem(METRICS, MedianLength.name, f"{__name__}:MedianLength")
    rng = np.random.default_rng(3)
    models = {}
    for model, shift in (("a", 0.0), ("b", 6.0)):
        lengths = np.round(rng.exponential(10.0, size=40)) + shift  # skewed: the median is not the mean
        rows = {f"s{i:02d}": {"length": float(v)} for i, v in enumerate(lengths)}
        models[model] = {"metrics": {"median-length/T": ({"median": float(np.median(lengths)), "n": 40}, rows, True)}}
    return make_run(tmp_path, "median", "F->T", models)


def test_an_interval_of_a_plugin_metric_resamples_its_own_statistic(median_runs):
    record = median_runs["models"]["a"]["metrics"]["median-length/T"]
    data = run_resampleable(median_runs, "a", record, "median")
    assert data.description == "median of per-study length"
    lengths = data.rows[:, 0]
    assert data.value() == np.median(lengths) != pytest.approx(lengths.mean())
    ci = {"n_resamples": 300, "level": 0.9, "seed": 4}
    interval = Measurements([median_runs]).interval("F->T", "a", "median-length", "median", ci)
    # independent reference: the percentile bootstrap of the median written out by hand (same draws)
    rng = np.random.default_rng(4)
    medians = [np.median(lengths[rng.integers(0, len(lengths), len(lengths))]) for _ in range(300)]
    assert interval.method == "percentile" and interval.value == np.median(lengths)
    assert (interval.low, interval.high) == pytest.approx(tuple(np.quantile(medians, [0.05, 0.95])), abs=1e-9)


def test_compare_uses_the_plugin_metrics_statistic_and_its_paired_test(median_runs):
    result = compare_models([median_runs], "F->T", "median-length", "median", "a", "b", n_resamples=200)
    assert result["method"] == "approximate-randomisation"  # MedianLength.paired_test
    assert result["statistic"] == "median of per-study length"
    values = {m: median_runs["models"][m]["metrics"]["median-length/T"]["values"]["median"] for m in "ab"}
    assert result["difference"] == pytest.approx(values["a"] - values["b"]) and result["p_value"] < 0.05


def test_without_its_own_statistic_the_stored_value_is_not_resampled_as_a_mean(median_runs, monkeypatch):
    monkeypatch.delattr(MedianLength, "resampleable")  # back to the default: the mean of a per-study value
    record = median_runs["models"]["a"]["metrics"]["median-length/T"]
    with pytest.raises(stats.StatsUnavailable, match="records no per-study 'median'"):
        run_resampleable(median_runs, "a", record, "median")
