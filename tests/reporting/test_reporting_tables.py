"""Tables from fixture runs: numbers equal the results files, layout marks, bold, CIs, paper values, LaTeX."""
import csv
import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from reporting_fixtures import make_run, mean_metric
from typer.testing import CliRunner

from xgem_bench import results as store
from xgem_bench.cli import app
from xgem_bench.results import PAPER_VALUES, load_paper_values
from xgem_bench.table_layouts import COUNT_TABLE, EXTRA_TABLES, LAYOUTS, TABLES
from xgem_bench.table_render import render
from xgem_bench.tables import build_table


def _cells(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_numbers_equal_the_results_files(report_runs):
    rows = _cells(render(build_table("6", report_runs), "csv"))
    ours = [r for r in rows if r["source"] == "xgem-bench"]
    assert len(ours) == 4 * 3 * 2  # models x tasks x metrics
    checked = 0
    for row in ours:
        run = next(r for r in report_runs if r["task"] == row["task"])
        entry = run["models"][row["model"]]
        metric, key = {"RadGraph-F1": ("radgraph-f1", "radgraph_f1"), "RaTE": ("ratescore", "ratescore")}[row["column"]]
        if entry["status"] != "ok":
            assert row["mark"] == "-" and row["value"] == ""
            continue
        record = entry["metrics"][f"{metric}/T"]
        if record["status"] != "ok":
            assert row["mark"] == "n/a"
            continue
        assert float(row["value"]) == record["values"][key]
        checked += 1
    assert checked == 2 * 3 * 2 + 3 + 2  # xgem and oracle: 3 tasks x 2; codi-xr: radgraph x 3; llm-cxr: F->T x 2
    # one file read back independently of the loader
    raw = json.loads((store.Path(report_runs[0]["run_dir"]) / "results.json").read_text())
    xgem = next(r for r in ours if r["model"] == "xgem" and r["task"] == "F->T" and r["column"] == "RaTE")
    assert float(xgem["value"]) == raw["models"]["xgem"]["metrics"]["ratescore/T"]["values"]["ratescore"]


def test_bold_marks_the_best_non_reference_model_per_column(report_runs):
    table = build_table("6", report_runs)
    (panel,) = table.panels
    for j in range(len(panel.headers)):
        candidates = [r for r in panel.rows if r.model != "oracle" and r.cells[j].value is not None]
        best = max(candidates, key=lambda r: r.cells[j].value)
        assert [r.model for r in panel.rows if r.cells[j].bold] == [best.model]
    assert not any(c.bold for r in panel.rows if r.model == "oracle" for c in r.cells)


def test_lower_is_better_metrics_bold_the_minimum(tmp_path):
    rng = np.random.default_rng(1)
    runs = [make_run(tmp_path, f"r{i}", task, {
        "xgem": {"metrics": {"fid-inception/F": ({"fid": 10.0 + i}, None, False)}},
        "codi": {"metrics": {"fid-inception/F": ({"fid": 500.0}, None, False)}}})
        for i, task in enumerate(["T->F", "L->F"])]
    del rng
    md = render(build_table("2", runs), "md")
    assert "**10.00**" in md and "**11.00**" in md and "**500.00**" not in md
    assert "| xgem | **10.00** | n/a | **11.00** | n/a |" in md  # XRV not run; tasks not in the runs: no columns
    every = render(build_table("2", runs, all_tasks=True), "md")
    assert "| xgem | **10.00** | n/a | **11.00** | n/a | - | - |" in every


def test_unsupported_tasks_show_a_dash_and_skipped_metrics_na_with_reason(report_runs):
    md = render(build_table("6", report_runs), "md")
    assert "| llm-cxr | 0." in md and md.count("| - | - | - | - |") == 1
    assert ("n/a: ratescore skipped for codi-xr on F->T, codi-xr on L->T, codi-xr on F+L->T: weight 'w' is missing; "
            "run fix") in md


def test_intervals_come_from_per_study_rows(report_runs):
    settings = {"n_resamples": 300, "level": 0.9, "seed": 3}
    rows = _cells(render(build_table("6", report_runs, ci=settings), "csv"))
    row = next(r for r in rows if r["model"] == "xgem" and r["task"] == "L->T" and r["column"] == "RaTE")
    value, low, high = float(row["value"]), float(row["ci_low"]), float(row["ci_high"])
    assert low < value < high and high - low < 0.2
    md = render(build_table("6", report_runs, ci=settings), "md")
    assert "[low, high] 90% interval over studies, percentile bootstrap (300 resamples, seed 3)" in md
    assert f"{value:.2f} [{low:.2f}, {high:.2f}]" in md and "†" not in md
    pm = render(build_table("6", report_runs, ci={**settings, "style": "pm"}), "md")
    assert f"{value:.2f} ± {(high - low) / 2:.2f}" in pm and "±: half-width of the 90% interval" in pm


def test_rows_grouped_by_task_and_real_data_row_with_paper_values(tmp_path):
    from xgem_bench.data.study import PAPER_PATHOLOGIES
    values = {f"auc/{p}": 0.5 + 0.01 * i for i, p in enumerate(PAPER_PATHOLOGIES)}
    values.update({"auc_micro": 0.7, "auc_macro": 0.6, "auc_weighted": 0.65})
    runs = [make_run(tmp_path, "t3", "T->F", {m: {"metrics": {"xrv-classification/F": (values, None, True)}}
                                              for m in ("xgem", "oracle")})]
    table = build_table("3", runs, with_paper=True, all_tasks=True)
    auc, f1 = table.panels
    assert auc.title == "AUC" and f1.title == "F1"
    tasks = [r.task for r in auc.rows]
    assert tasks == sorted(tasks, key=["T->F", "L->F", "L+T->F"].index)  # grouped in the paper's order
    real = next(r for r in auc.rows if r.label == "Real Data (paper)")
    assert real.task == "T->F" and real.cells[0].value == 0.84
    xgem = next(r for r in auc.rows if r.model == "xgem")
    assert [c.value for c in xgem.cells] == [values[f"auc/{p}"] for p in PAPER_PATHOLOGIES] + [0.7, 0.6, 0.65]
    assert all(c.mark == "n/a" for c in next(r for r in f1.rows if r.model == "xgem").cells)
    assert [r.label for r in auc.rows if r.task == "L->F"] == ["CoDiXR (paper)", "XGeM (paper)"]


def test_coherence_table_has_models_as_columns_and_real_pairs(tmp_path):
    runs = []
    for i, task in enumerate(["T->F+L", "L->F+T", "F->L+T"]):
        runs.append(make_run(tmp_path, f"c{i}", task, {
            "xgem": {"metrics": {"coherence-cosine/joint": ({"cosine": 0.6 - 0.1 * i, "cosine_real": 0.9}, None, True)}},
            "xgem-independent": {"metrics": {"coherence-cosine/joint": ({"cosine": 0.5, "cosine_real": 0.9}, None,
                                                                        True)}}}))
    md = render(build_table("7", runs, with_paper=True), "md")
    assert "| Task | Cosine similarity xgem | Cosine similarity xgem-independent | Cosine similarity Real pairs |" in md
    assert "| T->F+L | **0.60** | 0.50 | 0.90 | 0.61 | 0.65 |" in md
    assert "| F->L+T | 0.40 | **0.50** | 0.90 | 0.19 | 0.21 |" in md
    assert "Encoder: not recorded by the run." in md  # the fixture records no settings: said, not guessed
    tiny = make_run(tmp_path, "c-tiny", "T->F+L", {"xgem": {"metrics": {"coherence-cosine/joint": (
        {"cosine": 0.6}, None, True)}, "settings": {"coherence-cosine": {"encoder": "tiny", "real_pairs": True}}}})
    assert "trained on the synthetic demo data (not the paper's encoder)" in build_table("7", [tiny]).caption


def test_paper_values_file_is_marked_and_matches_the_paper_text():
    document = json.loads(PAPER_VALUES.read_text())  # the packaged resource (importlib.resources)
    assert document["kind"] == "published-values" and "not measured" in document["warning"]
    paper = load_paper_values()
    assert {k[0] for k in paper} == set(TABLES) | {COUNT_TABLE}
    text = Path(__file__).resolve().parents[3] / "shared" / "paper" / "xgem-paper.txt"
    if not text.exists():
        pytest.skip("paper text not available")
    numeric = [[t for t in line.split() if t.replace(".", "", 1).isdigit()] for line in text.read_text().splitlines()]
    numeric += [line.split() for line in text.read_text().splitlines()]  # Table 1's rows start with their name
    rows: dict[tuple, list[float]] = {}
    for (number, panel, task, model, _), value in paper.items():
        rows.setdefault((number, panel, model) + ((task,) if number in ("3", "5", "7") else ()), []).append(value)
    for key, values in rows.items():
        # the paper prints .xx for tables of fractions, 0.xx / 10.56 for FID tables and integers in Table 1
        wanted = [f"{v:d}" if key[0] == COUNT_TABLE else f"{v:.2f}" if key[0] in ("2", "A1") else f"{v:.2f}"[1:]
                  for v in values]
        if key[0] == COUNT_TABLE:  # a whole row of the paper: "Atl. 10561 9123 1438"
            wanted = [key[2]] + wanted
        found = any(wanted == tokens[i:i + len(wanted)] for tokens in numeric for i in range(len(tokens)))
        assert found, (key, wanted)
    assert len(rows) == 10 + 6 + 6 + 2 * 11 + 5 + 13 + 5 + 3 + 3
    assert all(isinstance(v, int) for k, v in paper.items() if k[0] == COUNT_TABLE)


def test_every_layout_renders_in_every_format_and_latex_is_balanced(report_runs):
    for number in TABLES + EXTRA_TABLES:
        table = build_table(number, report_runs, with_paper=True, all_tasks=True)
        for fmt in ("md", "csv"):
            assert render(table, fmt)
        latex = render(table, "latex")
        assert latex.count(r"\begin{tabular}") == latex.count(r"\end{tabular}") == len(table.panels)
        assert latex.count("{") == latex.count("}") + latex.count(r"\{") - latex.count(r"\}")
        assert r"\toprule" in latex and r"\bottomrule" in latex and "->" not in latex
    assert set(LAYOUTS) | {"7"} == set(TABLES) | set(EXTRA_TABLES)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no LaTeX engine (apt-get install texlive-latex-base)")
def test_latex_compiles_with_pdflatex(report_runs, tmp_path):
    body = "".join(render(build_table(n, report_runs, with_paper=True, all_tasks=True,
                                      ci={"n_resamples": 50, "level": 0.95, "seed": 0}), "latex") for n in TABLES)
    (tmp_path / "t.tex").write_text("\\documentclass{article}\n\\usepackage[margin=1cm,landscape]{geometry}\n"
                                    "\\usepackage{booktabs,graphicx}\n\\begin{document}\n" + body + "\\end{document}\n")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "t.pdf").stat().st_size > 1000


def test_cli_writes_tables_and_refuses_bad_input(report_runs, tmp_path):
    runner = CliRunner()
    dirs = [r["run_dir"] for r in report_runs]
    out = tmp_path / "t6.tex"
    done = runner.invoke(app, ["tables", *dirs, "--table", "6", "--format", "latex", "--with-paper", "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert r"\begin{tabular}" in out.read_text()
    done = runner.invoke(app, ["tables", *dirs, "--table", "12"])
    assert done.exit_code == 2 and "unknown table '12'" in done.output
    done = runner.invoke(app, ["tables", *dirs, "--table", "9"])  # Tables 8-11: from utility runs only
    assert done.exit_code == 2 and "Table 9 is built from utility runs" in done.output
    done = runner.invoke(app, ["tables", str(tmp_path / "nothing"), "--table", "6"])
    assert done.exit_code == 2 and "not a finished xgem-bench run" in done.output
    done = runner.invoke(app, ["tables", dirs[0], dirs[0], "--table", "6"])
    assert done.exit_code == 2 and "appears in two runs" in done.output
    done = runner.invoke(app, ["tables", *dirs, "--table", "6", "--format", "html"])
    assert done.exit_code == 2 and "unknown format" in done.output


def _dataset(n=12):
    from xgem_bench.data import InMemoryDataset, Study
    rng = np.random.default_rng(0)
    reports = ["no acute cardiopulmonary process", "large right pleural effusion", "mild cardiomegaly",
               "small left pneumothorax", "clear lungs no effusion"]
    studies = [Study(f"s{i:02d}", f"p{i}", frontal=rng.random((32, 32), dtype=np.float32),
                     lateral=rng.random((32, 32), dtype=np.float32), report=reports[i % 5],
                     split="test" if i % 2 else "train")
               for i in range(n)]
    return InMemoryDataset(studies, name="reporting-test")


def _generated_report(run, model, study_id):
    """The report `model` generated for a study in `run`, read straight from its cache file (np.load)."""
    seed = next(int(r["seed"]) for r in csv.DictReader(open(Path(run["run_dir"]) / "generation.csv"))
                if r["model"] == model and r["study_id"] == study_id)
    with np.load(Path(run["models"][model]["cache_folder"]) / f"{study_id}-{seed}.npz") as data:
        return str(data["T"])


def test_tables_from_real_runner_runs_bleu_and_intra_study(tmp_path):
    """Runs written by the real runner: Table 4 equals results.json; Table A2 shows the intra-study BLEU that the
    second run's metric recorded, equal to NLTK's corpus BLEU of the two tasks' texts, without the generation cache."""
    from nltk.translate.bleu_score import corpus_bleu

    from xgem_bench.runner import Runner
    dataset, cache = _dataset(), tmp_path / "cache"
    runs = []
    for task in ("F->T", "L->T"):
        result = Runner(task, models=["oracle", "retrieval"], dataset=dataset, metrics=["bleu", "intra-study-bleu"],
                        out=tmp_path / "out", cache_dir=cache, progress=False, run_id=f"run-{task[0]}").run()
        runs.append(store.load_run(result.run_dir))
    # the first run has no L->T reports yet: skipped, naming the command; the second records the value
    first = runs[0]["models"]["retrieval"]["metrics"]["intra-study-bleu/T"]
    assert first["status"] == "skipped" and "xgem-bench run --task 'L->T' --model retrieval" in first["reason"]
    rows = _cells(render(build_table("4", runs), "csv"))
    for row in (r for r in rows if r["value"]):
        run = next(r for r in runs if r["task"] == row["group"])
        key = "bleu" + row["column"][-1]
        assert float(row["value"]) == run["models"][row["model"]]["metrics"]["bleu/T"]["values"][key]
    oracle_t4 = [float(r["value"]) for r in rows if r["model"] == "oracle" and r["group"] == "F->T"]
    assert oracle_t4[:2] == [1.0, 1.0]  # NLTK counts a report shorter than n as one unmatched n-gram

    studies = sorted(r["study_id"] for r in csv.DictReader(open(Path(runs[1]["run_dir"]) / "generation.csv"))
                     if r["model"] == "retrieval")
    pairs = [[_generated_report(run, "retrieval", sid).split() for run in runs] for sid in studies]
    shutil.rmtree(cache)  # Table A2 reads the stored records only
    a2 = build_table("A2", runs)
    md = render(a2, "md")
    assert "retrieval: intra-study BLEU over 6 studies" in md and "recorded by its L->T run" in md
    oracle = next(r for r in a2.panels[0].rows if r.model == "oracle")
    # the real report on both sides, in both directions: the same n-gram ratios as the oracle's own BLEU
    assert [c.value for c in oracle.cells] == pytest.approx(oracle_t4, abs=1e-12)
    assert sum(f != l for f, l in pairs) >= 2  # frontal and lateral retrieve different neighbours: not trivial
    hypotheses = [report for f, l in pairs for report in (f, l)]
    references = [[other] for f, l in pairs for other in (l, f)]
    retrieval = next(r for r in a2.panels[0].rows if r.model == "retrieval")
    for n, cell in enumerate(retrieval.cells, start=1):
        expected = corpus_bleu(references, hypotheses, weights=tuple([1 / n] * n))
        assert cell.value == pytest.approx(expected, abs=1e-12) and cell.n == 6
    with_ci = build_table("A2", runs, ci={"n_resamples": 200, "level": 0.9, "seed": 0})
    cell = next(r for r in with_ci.panels[0].rows if r.model == "retrieval").cells[3]
    assert cell.low <= cell.value <= cell.high and cell.low < cell.high


def test_one_model_with_different_settings_in_two_runs_gets_two_rows(tmp_path):
    runs = []
    for mode, value in [("aligned", 0.65), ("independent", 0.61)]:
        run = make_run(tmp_path, f"x-{mode}", "T->F+L", {
            "xgem": {"metrics": {"coherence-cosine/joint": ({"cosine": value, "cosine_real": 0.9}, None, True)}}})
        run["models"]["xgem"]["settings"] = {"joint": mode, "steps": 50}
        runs.append(run)
    md = render(build_table("7", runs), "md")
    assert "Cosine similarity xgem (joint=aligned) | Cosine similarity xgem (joint=independent)" in md
    assert "| T->F+L | **0.65** | 0.61 | 0.90 |" in md


def test_intervals_unavailable_are_noted_not_fatal(report_runs):
    from pathlib import Path
    (Path(report_runs[1]["run_dir"]) / "per_sample.csv").unlink()
    table = build_table("6", report_runs, ci={"n_resamples": 20, "level": 0.95, "seed": 0})
    md = render(table, "md")
    assert "no interval for xgem on L->T, radgraph-f1 radgraph_f1:" in md and "has no per_sample.csv" in md
    row = next(r for r in table.panels[0].rows if r.model == "xgem")
    assert row.cells[0].low is not None and row.cells[2].low is None  # F->T has intervals, L->T not


def test_coherence_table_never_bolds_the_oracle_column(tmp_path):
    run = make_run(tmp_path, "o", "L->F+T", {
        "oracle": {"metrics": {"coherence-cosine/joint": ({"cosine": 0.9, "cosine_real": 0.9}, None, True)}},
        "xgem": {"metrics": {"coherence-cosine/joint": ({"cosine": 0.3, "cosine_real": 0.9}, None, True)}}})
    assert "| L->F+T | 0.90 | **0.30** | 0.90 |" in render(build_table("7", [run]), "md")


def test_table_1_counts_under_the_recorded_label_policy(tmp_path):
    from xgem_bench.data.study import PAPER_PATHOLOGIES
    from xgem_bench.metrics.xrv_classification import XRVClassification
    values = {"n_studies": 12.0}
    for i, label in enumerate(PAPER_PATHOLOGIES):
        values.update({f"n/{label}": 10.0 - i % 3, f"n_pos/{label}": 2.0, f"n_neg/{label}": 8.0 - i % 3,
                       f"n_uncertain/{label}": float(i % 3), f"n_blank/{label}": 0.0})
    other = {**values, "n/Edema": 3.0}
    settings = {"xrv-classification": XRVClassification.default_settings()}
    run = make_run(tmp_path, "t1", "T->F", {"xgem": {"metrics": {"xrv-classification/F": (values, None, True)},
                                                     "settings": settings},
                                            "codi": {"metrics": {"xrv-classification/F": (other, None, True)},
                                                     "settings": settings}})
    table = build_table("1", [run])
    md = render(table, "md", digits=2)
    assert "| T->F | Cardiomegaly | 9 | 7 | 2 | 1 | 0 |" in md  # counts print as integers
    assert "label policy label_policy=healthy, uncertain=exclude, blank=exclude" in md
    assert "codi scored other studies or used another policy" in md
    rows = _cells(render(table, "csv"))
    edema = {r["column"]: float(r["value"]) for r in rows if r["model"] == "Edema"}
    assert edema == {"Samples": values["n/Edema"], "Negatives": values["n_neg/Edema"], "Positives": 2.0,
                     "Uncertain": values["n_uncertain/Edema"], "Blank": 0.0}
    assert len(rows) == len(PAPER_PATHOLOGIES) * 5
    # --with-paper: the paper's Table 1 beside ours (Atelectasis row of the paper text: "Atl. 10561 9123 1438")
    md = render(build_table("1", [run], with_paper=True), "md")
    assert "| T->F | Atelectasis | 10 | 8 | 2 | 0 | 0 | 10561 | 9123 | 1438 |" in md
    assert "| T->F | Pneumothorax | 10 | 8 | 2 | 0 | 0 | 9337 | 9253 | 84 |" in md
    assert "Samples (paper)" in md and "(paper) are published values" in md
