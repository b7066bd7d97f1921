"""Figures from fixture runs: files exist in both formats, the Figure 5 curve shows the stored histogram."""
import numpy as np
import pytest
from reporting_fixtures import make_run
from typer.testing import CliRunner

from xgem_bench.cli import app
from xgem_bench.data.study import PAPER_PATHOLOGIES
from xgem_bench.plots import all_plots, hamming_distributions


def _hamming(counts):
    distances = np.repeat(np.arange(len(counts)), counts)
    values = {"hamming": float(distances.mean()), "at_zero": float(np.mean(distances == 0)),
              **{f"count/{d}": float(c) for d, c in enumerate(counts)}, "n": float(len(distances))}
    return values, None, False


@pytest.fixture
def figure_runs(tmp_path):
    joint = [30, 12, 5, 2, 1] + [0] * 6
    independent = [15, 18, 10, 5, 2] + [0] * 6
    xrv = {f"{s}/{p}": 0.5 + 0.03 * i for i, p in enumerate(PAPER_PATHOLOGIES) for s in ("auc", "f1")}
    return [
        make_run(tmp_path, "j", "L->F+T", {"xgem": {"metrics": {"hamming/joint": _hamming(joint)}},
                                           "xgem-independent": {"metrics": {"hamming/joint": _hamming(independent)}}}),
        make_run(tmp_path, "c", "T->F", {"xgem": {"metrics": {"xrv-classification/F": ({**xrv, "auc_macro": .6},
                                                                                        None, True)}},
                                         "oracle": {"metrics": {"xrv-classification/F": ({**xrv, "auc_macro": .7},
                                                                                          None, True)}}}),
    ]


def test_all_figures_in_png_and_pdf(figure_runs, tmp_path):
    paths = all_plots(figure_runs, tmp_path / "fig")
    names = sorted(p.name for p in paths)
    assert "hamming-L-to-F+T.png" in names and "hamming-L-to-F+T.pdf" in names
    assert {"xrv-classification-auc-T-to-F.png", "xrv-classification-f1-T-to-F.pdf"} <= set(names)
    assert {"summary-hamming.png", "summary-xrv-classification.pdf"} <= set(names)
    for path in paths:
        head = path.read_bytes()[:8]
        assert head.startswith(b"\x89PNG") if path.suffix == ".png" else head.startswith(b"%PDF")


def test_figure5_curves_are_the_stored_histograms(figure_runs, tmp_path, monkeypatch):
    import matplotlib.figure
    drawn = {}
    real_savefig = matplotlib.figure.Figure.savefig

    def spy(figure, path, **kwargs):
        for line in figure.axes[0].get_lines():
            drawn[line.get_label()] = line.get_ydata().tolist()
        return real_savefig(figure, path, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    hamming_distributions(figure_runs, tmp_path, formats=("png",))
    joint = next(v for k, v in drawn.items() if k.startswith("xgem (mean"))
    assert joint == [30, 12, 5, 2, 1] + [0] * 6
    assert any(k.startswith("xgem-independent (mean 1.22, at 0: 30%)") for k in drawn)


def test_cli_plots_and_bad_input(figure_runs, tmp_path):
    runner = CliRunner()
    dirs = [r["run_dir"] for r in figure_runs]
    done = runner.invoke(app, ["plots", *dirs, "--out", str(tmp_path / "f"), "--formats", "png"])
    assert done.exit_code == 0, done.output
    assert all(line.endswith(".png") for line in done.output.split())
    done = runner.invoke(app, ["plots", *dirs, "--out", str(tmp_path / "f"), "--formats", "svg"])
    assert done.exit_code == 2 and "unknown figure format" in done.output
    empty = make_run(tmp_path, "empty", "T->F", {"m": {"status": "skipped", "reason": "no"}})
    done = runner.invoke(app, ["plots", empty["run_dir"], "--out", str(tmp_path / "g")])
    assert done.exit_code == 2 and "no successful metric values" in done.output
