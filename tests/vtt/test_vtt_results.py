"""`vtt results` against independent references: Krippendorff's published example, the two-sample t-test of item
means (what the mixed model reduces to in a complete balanced design), and means/sds by hand."""
import json
import shutil
import sqlite3
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from xgem_bench.vtt.paper import PAPER_TABLE_A3
from xgem_bench.vtt.radar import radar_series
from xgem_bench.vtt.results import (agreement, load_ratings, real_vs_synthetic, render_table, summarize,
                                    table_rows)
from xgem_bench.vtt.store import RaterStore, connect

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers, 12 units, values 1-5,
# '.' missing. Published: nominal 0.743, ordinal 0.815, interval 0.849.
KRIPPENDORFF_EXAMPLE = """
1 2 3 3 2 1 4 1 2 . . .
1 2 3 3 2 2 4 1 2 5 . 3
. 3 3 3 2 3 4 2 2 5 1 .
1 2 3 3 2 4 4 1 2 5 1 .
"""


def _frame(rows):
    return pd.DataFrame(rows, columns=["rater", "item_id", "task", "truth", "model", "score"])


def test_alpha_matches_krippendorffs_published_example():
    rows = [(rater, f"u{unit:02d}", "xray-realism", "real", "", int(value))
            for rater, line in enumerate(KRIPPENDORFF_EXAMPLE.split("\n")[1:-1])
            for unit, value in enumerate(line.split()) if value != "."]
    found = agreement(_frame(rows), "xray-realism")
    assert found["alpha"] == pytest.approx(0.815, abs=5e-4)
    assert found["n_raters"] == 4 and found["n_items_rated_twice"] == 11  # unit 12 has one value only


def _balanced(seed=1, items=20, raters=3):
    rng = np.random.default_rng(seed)
    rows = []
    for item in range(items):
        truth, effect = ("synthetic", rng.normal(0, 0.8)) if item % 2 else ("real", rng.normal(0, 0.8))
        for rater in range(raters):
            value = 3.5 + effect - 0.5 * (truth == "synthetic") + 0.3 * rater + rng.normal(0, 0.6)
            rows.append((rater, f"i{item}", "xray-pair", truth, "xgem" if truth == "synthetic" else "",
                         int(np.clip(np.round(value), 1, 5))))
    return _frame(rows)


def test_mixed_model_equals_the_t_test_of_item_means_in_a_balanced_design():
    ratings = _balanced()
    found = real_vs_synthetic(ratings, "xray-pair")
    means = ratings.groupby(["item_id", "truth"])["score"].mean().reset_index()
    synthetic, real = (means.loc[means["truth"] == t, "score"] for t in ("synthetic", "real"))
    reference = stats.ttest_ind(synthetic, real)
    assert found["estimate"] == pytest.approx(synthetic.mean() - real.mean(), abs=1e-9)
    assert found["se"] == pytest.approx((synthetic.mean() - real.mean()) / reference.statistic, rel=1e-3)
    assert found["p"] == pytest.approx(reference.pvalue, rel=1e-3) and found["df"] == 18
    assert found["n_items"] == 20 and found["n_raters"] == 3 and found["n_ratings"] == 60


def test_cells_too_small_or_constant_say_why():
    assert "reason" in real_vs_synthetic(_balanced(items=3), "xray-pair")
    constant = _balanced().assign(score=3)
    assert "same score" in real_vs_synthetic(constant, "xray-pair")["reason"]
    assert "same score" in agreement(constant)["reason"]
    assert "two raters" in agreement(_balanced(raters=1))["reason"]


def test_table_rows_are_means_and_sds_of_all_ratings_of_a_cell():
    rows = [(0, "a", "xray-realism", "real", "", 4), (1, "a", "xray-realism", "real", "", 5),
            (0, "b", "xray-realism", "real", "", 3), (0, "c", "xray-realism", "synthetic", "m1", 2),
            (1, "c", "xray-realism", "synthetic", "m1", 2), (0, "d", "xray-realism", "synthetic", "m2", 5)]
    table = table_rows(_frame(rows), ["xray-realism"])
    got = {(r.truth, r.model): (r.n_items, r.n_ratings, r.mean, r.sd) for r in table}
    assert got[("real", "")] == (2, 3, 4.0, 1.0)
    assert got[("synthetic", "")][:3] == (2, 3, 3.0) and got[("synthetic", "")][3] == pytest.approx(np.sqrt(3))
    assert got[("synthetic", "m1")] == (1, 2, 2.0, 0.0) and got[("synthetic", "m2")] == (1, 1, 5.0, None)
    assert [r.label() for r in table] == ["Real X-rays", "Synthetic X-rays", "Synthetic X-rays (m1)",
                                          "Synthetic X-rays (m2)"]


def _rate_everything(session, rng):
    """Every rater rates every item through the app's own store; returns {(rater, item): score}."""
    given = {}
    connection = connect(session.path)
    store = RaterStore(connection)
    for token in session.tokens:
        rater = store.rater(token)
        for position in range(store.n_items(rater)):
            item = store.item_at(rater, position)
            given[(rater.rater_id, item.item_id)] = int(rng.integers(1, 6))
            store.save(rater, item.item_id, given[(rater.rater_id, item.item_id)])
    connection.close()
    return given


@pytest.mark.slow
def test_results_of_a_rated_demo_session(session, tmp_path):
    from xgem_bench.cli import app

    given = _rate_everything(session, np.random.default_rng(3))
    ratings = load_ratings(session.path)
    assert {(r.rater, r.item_id): r.score for r in ratings.itertuples()} == given
    with sqlite3.connect(session.path) as connection:
        truth = dict(connection.execute("SELECT item_id, truth FROM answer_key"))
    assert (ratings["truth"] == ratings["item_id"].map(truth)).all()

    result = CliRunner().invoke(app, ["vtt", "results", str(session.path), "--out", str(tmp_path / "out"),
                                      "--with-paper"])
    assert result.exit_code == 0, result.output
    assert "General X-ray Realism" in result.output and "4.1 ± 0.9" in result.output  # the paper's real X-rays
    summary = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert summary["raters"] == [{"rater": f"rater {i}", "rated": 20, "items": 20} for i in (1, 2, 3)]
    real = ratings[(ratings["task"] == "xray-realism") & (ratings["truth"] == "real")]["score"]
    assert summary["table"][0]["mean"] == pytest.approx(real.mean())
    assert summary["table"][0]["sd"] == pytest.approx(real.std(ddof=1))
    assert set(summary["tests"]) == set(summary["session"]["tasks"])
    assert (tmp_path / "out" / "radar.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "out" / "radar.pdf").read_bytes()[:5] == b"%PDF-"
    series = radar_series(summary, with_paper=True)
    assert series["Real"][0] == pytest.approx(real.mean())
    assert series["Paper: synthetic (XGeM)"] == [PAPER_TABLE_A3[(t, "synthetic")][0]
                                                 for t in summary["session"]["tasks"]]
    csv = (tmp_path / "out" / "table_a3.csv").read_text().splitlines()
    assert csv[0].startswith("task,task_title,data_type,truth,model,n_items,n_ratings,mean,sd,paper_mean")
    latex = render_table(summary, "latex", with_paper=True)
    assert latex.count("\\hline") >= 6 and "$\\pm$" in latex and "±" not in latex


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no LaTeX engine (apt-get install texlive-latex-base)")
def test_table_a3_latex_compiles(session, tmp_path):
    _rate_everything(session, np.random.default_rng(4))
    body = render_table(summarize(session.path), "latex", with_paper=True)
    (tmp_path / "t.tex").write_text("\\documentclass{article}\n\\begin{document}\n" + body + "\\end{document}\n")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
