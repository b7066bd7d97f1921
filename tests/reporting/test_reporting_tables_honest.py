"""Issue 13 §2: tables say what data and how many studies stand behind each number, with the caveats; LaTeX that
LaTeX itself numbers, that fits the line and compiles; no -0.00; ties not crowned; empty tables refused."""
import csv
import io
import shutil
import subprocess

import numpy as np
import pytest
from reporting_fixtures import make_run

from xgem_bench.data.study import PAPER_PATHOLOGIES
from xgem_bench.tables import build_table, render


@pytest.fixture
def counted(report_runs):
    for run in report_runs:
        for entry in run["models"].values():
            entry["n_generated"] = 20
    return report_runs


def test_every_format_states_dataset_n_and_caveats(counted):
    table = build_table("6", counted)
    md = render(table, "md")
    assert "Dataset: fixture (split test, synthetic)." in md and "n = 20 studies per cell." in md
    assert "Synthetic data: these numbers test the pipeline" in md
    latex = render(table, "latex")
    assert "n = 20 studies per cell." in latex and "Synthetic data" in latex
    cells = list(csv.DictReader(io.StringIO(render(table, "csv"))))
    measured = [c for c in cells if c["value"]]
    assert measured and all(c["n"] == "20" and c["dataset"] == "fixture (split test, synthetic)" for c in measured)


def test_one_note_per_missing_metric_and_no_reasons_in_latex(counted):
    table = build_table("6", counted)
    notes = [n for n in table.notes if "ratescore" in n]
    assert notes == ["n/a: ratescore skipped for codi-xr on F->T, codi-xr on L->T, codi-xr on F+L->T"]
    assert "weight 'w' is missing; run fix" in render(table, "md")  # the reason, for the terminal
    assert "run fix" not in render(table, "latex")  # never commands or local paths in a paper


def test_latex_caption_is_not_numbered_twice_and_shrinks_to_the_line(counted):
    latex = render(build_table("6", counted), "latex")
    assert "\\caption{RadGraph-F1 and RaTEScore" in latex and "Table 6:" not in latex
    assert "\\label{tab:xgem-6}" in latex and "\\resizebox{\\ifdim\\width>\\linewidth" in latex


def test_columns_only_for_tasks_that_ran(counted):
    only_ft = [counted[0]]
    headers = [g for g, _ in build_table("6", only_ft).panels[0].headers]
    assert set(headers) == {"F->T"}
    every = [g for g, _ in build_table("6", only_ft, all_tasks=True).panels[0].headers]
    assert set(every) == {"F->T", "L->T", "F+L->T"}


def test_empty_table_is_an_error_with_its_reason(counted):
    with pytest.raises(ValueError, match=r"Table 2 would be empty: it reads tasks .*T->F.* runs given are on "):
        build_table("2", counted)


def run_with(tmp_path, values):
    models = {name: {"metrics": {"radgraph-f1/T": ({"radgraph_f1": v}, None, True)}} for name, v in values.items()}
    return [make_run(tmp_path, "r", "F->T", models)]


def test_never_minus_zero(tmp_path):
    md = render(build_table("6", run_with(tmp_path, {"a": -0.001, "b": 0.5})), "md")
    assert "-0.00" not in md and "| a | 0.00 |" in md


def test_ties_are_not_crowned(tmp_path):
    tied = build_table("6", run_with(tmp_path, {"a": 0.501, "b": 0.499}))  # both show 0.50
    assert not any(c.bold for r in tied.panels[0].rows for c in r.cells)
    clear = build_table("6", run_with(tmp_path, {"a": 0.6, "b": 0.5, "c": 0.6}))
    assert [r.model for r in clear.panels[0].rows if r.cells[0].bold] == ["a", "c"]


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed (apt-get install "
                                                               "texlive-latex-base texlive-latex-recommended)")
def test_latex_compiles_without_overfull_boxes(tmp_path):
    """Table 3's 20 pathology columns are the widest layout; pdflatex reports any overflow of \\linewidth."""
    rng = np.random.default_rng(0)
    runs = []
    for task in ("T->F", "L->F", "L+T->F"):
        values = {f"{score}/{label}": float(rng.random()) for score in ("auc", "f1") for label in PAPER_PATHOLOGIES}
        values.update({f"{score}_{average}": 0.5 for score in ("auc", "f1") for average in ("micro", "macro",
                                                                                             "weighted")})
        models = {m: {"metrics": {"xrv-classification/F": (values, None, True)}} for m in ("xgem", "codi-xr")}
        runs.append(make_run(tmp_path, task.replace("->", "_").replace("+", ""), task, models))
    document = ("\\documentclass{article}\\usepackage{booktabs,graphicx}\\begin{document}\n"
                + render(build_table("3", runs, with_paper=True), "latex") + "\\end{document}\n")
    (tmp_path / "t.tex").write_text(document)
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    log = (tmp_path / "t.log").read_text(errors="replace")
    assert done.returncode == 0, log[-2000:]
    assert "Overfull \\hbox" not in log
