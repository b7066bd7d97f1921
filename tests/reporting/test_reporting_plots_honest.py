"""Issue 13 §2: figures say the dataset, n and caveats, which direction is better, and draw absent support apart
from a 0."""
import matplotlib.figure
import pytest
from reporting_fixtures import make_run

from xgem_bench.data.study import PAPER_PATHOLOGIES
from xgem_bench.plots import metric_summaries, per_pathology_bars


@pytest.fixture
def drawn(monkeypatch):
    """Each saved figure's texts and bar heights, read off the real matplotlib figure as it is saved."""
    figures = []
    real_savefig = matplotlib.figure.Figure.savefig

    def spy(figure, path, **kwargs):
        axis = figure.axes[0]
        figures.append({"texts": [t.get_text() for t in figure.texts + axis.texts], "ylabel": axis.get_ylabel(),
                        "bars": [p.get_height() for p in axis.patches]})
        return real_savefig(figure, path, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    return figures


@pytest.fixture
def runs(tmp_path):
    full = {f"auc/{p}": 0.8 for p in PAPER_PATHOLOGIES}
    partial = {f"auc/{p}": 0.6 for p in PAPER_PATHOLOGIES if p != "Pneumothorax"}  # no support for one class
    run = make_run(tmp_path, "c", "T->F", {
        "xgem": {"metrics": {"xrv-classification/F": ({**partial, "auc_macro": 0.6}, None, True)}},
        "codi-xr": {"metrics": {"xrv-classification/F": ({**full, "auc_macro": 0.8}, None, True)}}})
    for entry in run["models"].values():
        entry["n_generated"] = 37
    return [run]


def test_bars_say_dataset_n_direction_and_mark_missing_classes(runs, tmp_path, drawn):
    per_pathology_bars(runs, tmp_path, formats=("png",))
    (figure,) = drawn
    caption = next(t for t in figure["texts"] if t.startswith("Dataset:"))
    assert "fixture (split test, synthetic)" in caption and "n = 37 studies per point" in caption
    assert "Synthetic data" in caption and figure["ylabel"] == "AUC (higher is better)"
    # xgem's Pneumothorax is not a bar of height 0: it is left out and marked
    assert sorted(figure["bars"]) == [0.6] * (len(PAPER_PATHOLOGIES) - 1) + [0.8] * len(PAPER_PATHOLOGIES)
    assert figure["texts"].count("n/a") == 1


def test_summary_lines_say_direction(runs, tmp_path, drawn):
    metric_summaries(runs, tmp_path, formats=("png",))
    assert drawn[0]["ylabel"].endswith(" (higher is better)")


def test_points_carry_their_bootstrap_interval_when_asked(tmp_path, drawn, monkeypatch):
    """Error bars: each point's interval is the percentile bootstrap of the mean of its per-study values (the
    closed-form check: it lies within a few standard errors of the mean and contains it); none without `ci`."""
    import numpy as np
    from matplotlib.axes import Axes
    from reporting_fixtures import mean_metric

    rng = np.random.default_rng(0)
    run = make_run(tmp_path, "e", "F->T", {"xgem": {"metrics": {"radgraph-f1/T": mean_metric(rng, 200, 0.5,
                                                                                          "radgraph_f1")}}})
    segments = []
    real = Axes.vlines

    def spy(axis, x, low, high, **kwargs):
        segments.append((float(low), float(high)))
        return real(axis, x, low, high, **kwargs)

    monkeypatch.setattr(Axes, "vlines", spy)
    metric_summaries([run], tmp_path / "plain", formats=("png",))
    assert segments == [] and not any("Vertical segments" in t for t in drawn[0]["texts"])
    metric_summaries([run], tmp_path / "ci", formats=("png",), ci={"n_resamples": 400, "level": 0.95, "seed": 1})
    ((low, high),) = segments
    values = [row["radgraph_f1"] for row in mean_metric(np.random.default_rng(0), 200, 0.5, "radgraph_f1")[1].values()]
    mean, sem = np.mean(values), np.std(values, ddof=1) / np.sqrt(len(values))
    assert low < mean < high and abs((high - low) / 2 - 1.96 * sem) < 0.25 * 1.96 * sem
    assert any("Vertical segments: 95% intervals" in t for t in drawn[1]["texts"])
