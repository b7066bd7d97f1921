"""Interval methods for biased set-level statistics (issue 11 §1): closed forms, the coverage simulation with known
truth, flagged table cells, and FID's default paired test."""
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from xgem_bench import intervals, stats
from xgem_bench.measurements import compare_models
from xgem_bench.metrics.fid_resampling import fid_of_samples
from xgem_bench.recompute import default_test, run_resampleable

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "fid_interval_coverage.py"


def _benchmark():
    spec = importlib.util.spec_from_file_location("fid_interval_coverage", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_method_on_a_mean_agrees_with_the_normal_interval():
    # the mean of 400 draws: every method must give about x̄ ± 1.96 s/√n (closed form), centred on x̄ (unbiased)
    x = np.random.default_rng(0).normal(3.0, 2.0, 400)
    half = 1.959964 * x.std(ddof=1) / math.sqrt(len(x))
    found = intervals.intervals(np.mean, x, intervals.METHODS, 2000, 0.95, np.random.default_rng(1))
    for method, entry in found.items():
        assert entry["low"] == pytest.approx(x.mean() - half, abs=0.1 * half), method
        assert entry["high"] == pytest.approx(x.mean() + half, abs=0.1 * half), method
        assert entry["estimate"] == pytest.approx(x.mean(), abs=0.05 * half), method


def test_basic_reflects_the_percentile_interval_and_half_sampling_rescales():
    draws = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    low, high = intervals.quantile_interval(draws, 0.5)
    assert intervals.basic(5.0, draws, 0.5)[:2] == (10 - high, 10 - low)
    # m = n/2 without replacement: θ_m - θ̂ has variance σ²(1/m - 1/n) = σ²/n, so the rescaling factor is 1
    assert np.allclose(intervals.half_sample_root(1.0, np.array([2.0, 3.0]), 10, 5), [1.0, 2.0])
    assert intervals.extrapolate_to_infinity([10, 20, 40], [1 + 5 / 10, 1 + 5 / 20, 1 + 5 / 40]) == pytest.approx(1)
    with pytest.raises(ValueError, match="unknown interval method"):
        intervals.intervals(np.mean, draws, ("student",), 10, 0.95, np.random.default_rng(0))


@pytest.mark.slow
def test_simulation_known_truth_percentile_misses_half_sampling_covers():
    result = _benchmark().simulate(dim=8, n=64, replications=40, resamples=80, methods=("percentile", "subsampling"))
    assert result["truth"] == pytest.approx(0.045 * 8)
    assert result["fid_mean"] > 2 * result["truth"]  # the finite-N bias the intervals must handle
    coverage = {m["method"]: m["cover_truth"] for m in result["methods"]}
    assert coverage["percentile"] <= 0.1 and coverage["subsampling"] >= 0.85, coverage


def _fid_artifact_run(tmp_path, n=40, dim=32, shift=0.3):
    """A run whose fid-xrv artefact holds n studies of d-dim generated and real features (FID strongly biased)."""
    from reporting_fixtures import make_run
    rng = np.random.default_rng(0)
    ids = np.array([f"s{i:03d}" for i in range(n)])
    generated, reference = (rng.normal(shift, 1, (n, dim)).astype(np.float32),
                            rng.normal(0, 1, (n, dim)).astype(np.float32))
    fid = fid_of_samples(generated.astype(np.float64), reference.astype(np.float64))
    runs = []
    for model, rows in (("a", generated), ("b", reference[::-1].copy())):
        value = fid_of_samples(rows.astype(np.float64), reference.astype(np.float64))
        runs.append((model, value, rows))
    run = make_run(tmp_path, "fid", "T->F", {m: {"metrics": {"fid-xrv/F": ({"fid": v}, None, False)}}
                                             for m, v, _ in runs})
    for model, _, rows in runs:
        folder = tmp_path / "fid" / "artifacts" / model
        folder.mkdir(parents=True)
        np.savez(folder / "fid-xrv-F.npz", generated_ids=ids, generated=rows, reference_ids=ids, reference=reference,
                 meta=np.array("{}"))
    return run, fid


def test_fid_cells_use_half_sampling_and_a_missed_value_is_flagged(tmp_path):
    from xgem_bench.tables import build_table, render
    run, fid = _fid_artifact_run(tmp_path)
    data = run_resampleable(run, "a", run["models"]["a"]["metrics"]["fid-xrv/F"], "fid")
    interval = stats.bootstrap_ci(data, n_resamples=100)
    assert interval.method == "subsampling" and interval.estimate < fid and not interval.contains_value
    assert interval.to_dict()["contains_value"] is False
    table = build_table("2", [run], ci={"n_resamples": 100, "level": 0.95, "seed": 0})
    md = render(table, "md")
    assert f"{fid:.2f} [{interval.low:.2f}, {interval.high:.2f}]†" in md
    assert "† the interval does not contain the value shown" in md and "half-sampling" in md
    pm = render(build_table("2", [run], ci={"n_resamples": 100, "level": 0.95, "seed": 0, "style": "pm"}), "md")
    assert f"{fid:.2f} [{interval.low:.2f}, {interval.high:.2f}]†" in pm  # never a ± around a missed value
    assert r"$^\dagger$" in render(table, "latex")
    import csv
    import io
    rows = list(csv.DictReader(io.StringIO(render(table, "csv"))))
    row = next(r for r in rows if r["model"] == "a" and r["column"] == "XRV" and r["task"] == "T->F")
    assert float(row["ci_low"]) == interval.low and row["ci_method"] == "subsampling"
    assert row["ci_contains_value"] == "0" and float(row["ci_estimate"]) == pytest.approx(interval.estimate)


def test_compare_on_fid_defaults_to_approximate_randomisation(tmp_path):
    run, _ = _fid_artifact_run(tmp_path)
    result = compare_models([run], "T->F", "fid-xrv", "fid", "a", "b", n_resamples=50)
    assert result["method"] == "approximate-randomisation"
    assert default_test("bleu") == "bootstrap"
