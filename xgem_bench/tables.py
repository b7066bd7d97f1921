"""The paper's result tables (Tables 2-7, A1, A2) built from one or more finished runs, as LaTeX, Markdown or CSV.

Each run holds one task; a table combines the runs of its tasks. Which metric, modality and value key feed each column
is declared once, in `table_layouts.LAYOUTS`; `table_render` turns a built table into text. Cells read the results
store only (through `measurements.Measurements`): "-" where a model does not support (or was not run
on) the task, "n/a" where the metric was skipped or failed (the reason is listed under the table). The best value per
column (per task block where rows are grouped by task) is bold, among our models, reference rows (the oracle, i.e.
real data) excluded. `with_paper` adds the paper's published values (package data, `results.PAPER_VALUES`) as extra
rows, marked "(paper)" and never considered for bold.
"""
from __future__ import annotations

import sys
import types
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from xgem_bench.data.study import PAPER_PATHOLOGIES
from xgem_bench.extended_table import EXTENDED_TABLE, extended_layout
from xgem_bench.measurements import Cell, Measurements, dataset_descriptions
from xgem_bench.results import load_paper_values, load_runs
from xgem_bench.table_layouts import (COHERENCE_KEY, COHERENCE_METRIC, COHERENCE_REAL_KEY, COUNT_TABLE,
                                      EXTRA_TABLES, INTRA_STUDY_METRIC, INTRA_STUDY_TASKS, JOINT_TASKS, LAYOUTS, REFERENCE_MODELS, TABLES,
                                      XRV_TASKS, Column, Layout, Panel)
from xgem_bench.table_render import CI_STYLES, INTERVAL_FLAG, BuiltPanel, BuiltTable, Row, flagged, render

#: interval methods (xgem_bench.intervals) as named under tables
INTERVAL_NAMES = {"percentile": "percentile bootstrap", "basic": "basic bootstrap", "bca": "BCa bootstrap",
                  "subsampling": "half-sampling without replacement (n/2, rescaled; bias-corrected)",
                  "extrapolated": "FID extrapolated to infinite N with the half-sample spread"}


# ---- building ----------------------------------------------------------------------------------------------------
def build_table(number: str, runs: Sequence[dict], with_paper: bool = False, ci: dict | None = None,
                all_tasks: bool = False, leaderboard: Path | None = None) -> BuiltTable:
    """Table `number` from the runs. `ci`: None, or interval settings {n_resamples, level, seed, and optionally
    style: bracket (default) or pm}.

    Columns and row groups of tasks that no run covers are left out unless `all_tasks`; a table without a single
    measured number is a ValueError that says why.

    `leaderboard`: for the REXRANK table, a CSV of published rows
    (`xgem_bench.leaderboard`) shown beside the runs'."""
    number = str(number).upper()
    if number not in (COUNT_TABLE, *TABLES, *EXTRA_TABLES, EXTENDED_TABLE):
        raise ValueError(f"unknown table {number!r}; the paper's tables are {', '.join((COUNT_TABLE, *TABLES))} "
                         "(8-11, A4-A6: from utility runs), "
                         f"and beside them {', '.join(t.lower() for t in (*EXTRA_TABLES, EXTENDED_TABLE))} "
                         "(extended: the metrics beyond the paper)")
    if leaderboard is not None and number != "REXRANK":
        raise ValueError("--leaderboard goes with --table rexrank")
    measured = Measurements(runs)
    paper = load_paper_values() if with_paper else {}
    if number == COUNT_TABLE:
        table = _build_label_counts(measured, paper)
    elif number == "7":
        table = _build_coherence(measured, paper, ci)
    elif number == "A2":
        table = _build_intra_study(measured, paper, ci)
    else:
        if number == EXTENDED_TABLE:
            layout, extra_notes = extended_layout(runs)
        else:
            layout, extra_notes = LAYOUTS[number], []
        ran = {run["task"] for run in runs}
        chosen = layout.panels if all_tasks else [p for p in (_ran_only(p, ran) for p in layout.panels) if p]
        panels = [_build_panel(layout, panel, measured, paper, ci) for panel in chosen]
        table = BuiltTable(number, layout.caption, panels, notes=extra_notes)
        _check_not_empty(table, measured, {c.task for p in layout.panels for c in p.columns if c.task}
                         | {t for p in layout.panels for t in p.row_tasks})
    table.notes = _context_notes(measured, table) + measured.missing_notes() + measured.notes + table.notes
    table.details = measured.details
    table.dataset = "; ".join(dataset_descriptions(measured))
    if ci and number != COUNT_TABLE:
        table.ci_style = ci.get("style", "bracket")
        if table.ci_style not in CI_STYLES:
            raise ValueError(f"unknown interval style {table.ci_style!r}; choose {' or '.join(CI_STYLES)}")
        table.notes += _interval_notes(table, ci)
    if number == "REXRANK":
        from xgem_bench.leaderboard import preset_notes
        table.notes += preset_notes(runs)
        if leaderboard is not None:
            _add_leaderboard(table, leaderboard)
    if with_paper:
        table.notes.append("Rows and columns marked (paper) are published values transcribed from the XGeM paper, "
                           "not measured.")
    return table



def _add_leaderboard(table: BuiltTable, path: Path) -> None:
    """Rows of a user-supplied leaderboard CSV under the runs' rows, in their own group."""
    from xgem_bench.leaderboard import read_leaderboard
    panel = table.panels[0]
    labels = [label for _, label in panel.headers]
    for name, values in read_leaderboard(path):
        cells = [Cell(value=values[label]) if label in values else Cell(mark="-") for label in labels]
        panel.rows.append(Row(f"{name} (leaderboard)", name, "leaderboard", "leaderboard", cells))
    table.notes.append(f"Rows marked (leaderboard) are published values from {path}, as supplied; not measured "
                       "here, and on the leaderboard's own test set.")


def _context_notes(measured: Measurements, table: BuiltTable) -> list[str]:
    """What every table states: the data, how many studies are behind each number, and the caveats that apply."""
    notes = [f"Dataset: {', '.join(dataset_descriptions(measured))}."]
    counts = sorted({c.n for p in table.panels for r in p.rows if r.source == "xgem-bench" for c in r.cells
                     if c.value is not None and c.n is not None})
    if counts:
        notes.append(f"n = {counts[0]} studies per cell." if len(counts) == 1 else
                     f"n = {counts[0]} to {counts[-1]} studies per cell (each cell's n: --format csv).")
    if any(r["dataset"].get("synthetic") for r in measured.runs):
        notes.append("Synthetic data: these numbers test the pipeline; they say nothing about real patients.")
    deficient = any(record.get("values", {}).get("rank_deficient") for _, entry in measured.entries.values()
                    for record in entry.get("metrics", {}).values() if record.get("status") == "ok")
    if deficient:
        notes.append("FID with no more images than feature dimensions (N <= d): the covariance is singular, so the "
                     "values are biased and unstable.")
    return notes


def _check_not_empty(table: BuiltTable, measured: Measurements, needed: set[str]) -> None:
    """A table without a single number (measured, or published with --with-paper) is an error that says why."""
    if any(c.value is not None for p in table.panels for r in p.rows for c in r.cells):
        return
    ran = sorted({r["task"] for r in measured.runs})
    if not needed & set(ran):
        reason = f"it reads tasks {sorted(needed)} and the runs given are on {ran}"
    elif measured.missing:
        reason = "no metric it shows has a value: " + "; ".join(measured.missing_notes())
    else:
        reason = "no model of the runs finished (see `xgem-bench results show RUN`)"
    raise ValueError(f"Table {table.number} would be empty: {reason}")


def _ran_only(panel: Panel, ran: set[str]) -> Panel | None:
    """The panel restricted to the tasks that were run (None if none of its tasks was)."""
    columns = tuple(c for c in panel.columns if c.task is None or c.task in ran)
    row_tasks = tuple(t for t in panel.row_tasks if t in ran)
    if not columns or (panel.row_tasks and not row_tasks):
        return None
    return replace(panel, columns=columns, row_tasks=row_tasks)


def _build_panel(layout: Layout, panel: Panel, measured: Measurements, paper: dict, ci: dict | None) -> BuiltPanel:
    models = measured.models()
    groups = panel.row_tasks or ("",)
    rows: list[Row] = []
    for group in groups:
        ours = [m for m in models if not panel.row_tasks or (group, m) in measured.entries]
        for model in ours:
            cells = []
            for column in panel.columns:
                task = column.task or group
                cell = measured.cell(task, model, column.metric, column.key)
                if ci and cell.mark == "":
                    cell = _with_interval(cell, measured, task, model, column, ci)
                cells.append(cell)
            rows.append(Row(model, model, group, "xgem-bench", cells))
        if paper:
            rows += _paper_rows(layout.number, panel, group, paper)
    higher = [measured.higher_is_better(c.metric) for c in panel.columns]
    built = BuiltPanel(panel.title, [(c.group, c.label) for c in panel.columns], rows, higher,
                       ["Task", "Model"] if panel.row_tasks else ["Model"])
    _mark_best(built)
    return built


def _paper_rows(number: str, panel: Panel, group: str, paper: dict) -> list[Row]:
    """Published rows of one row group (with Table 3's task-less "Real Data" row ahead of its first group)."""
    tasks = [group] + (["-"] if panel.row_tasks and group == panel.row_tasks[0] else [])
    if not panel.row_tasks:
        tasks = ["-"] + [c.task for c in panel.columns]
    names = [name for (t, p, task, name, _) in paper if t == number and p == panel.title and task in tasks]
    rows = []
    for name in dict.fromkeys(names):
        cells = []
        for column in panel.columns:
            task = column.task or group
            value = paper.get((number, panel.title, task, name, column.label))
            if value is None and panel.row_tasks:
                value = paper.get((number, panel.title, "-", name, column.label))
            cells.append(Cell(value=value) if value is not None else Cell(mark="-"))
        rows.append(Row(f"{name} (paper)", name, group, "paper", cells))
    return rows


def _with_interval(cell: Cell, measured: Measurements, task: str, model: str, column: Column, ci: dict) -> Cell:
    interval = measured.interval(task, model, column.metric, column.key, ci)
    if interval is None:
        return cell
    return replace(cell, low=interval.low, high=interval.high, ci_method=interval.method,
                   ci_estimate=interval.estimate)


def _interval_notes(table: BuiltTable, ci: dict) -> list[str]:
    """What the printed intervals are, per method used, and the flag of intervals that miss their value."""
    shown = "[low, high]" if table.ci_style == "bracket" else "±: half-width of the"
    cells = [c for panel in table.panels for row in panel.rows for c in row.cells if c.ci_method]
    methods = dict.fromkeys(c.ci_method for c in cells) or {"percentile": None}
    notes = [f"{shown} {ci['level']:.0%} interval over studies, {INTERVAL_NAMES.get(m, m)} ({ci['n_resamples']} "
             f"resamples, seed {ci['seed']})." for m in methods]
    if any(flagged(c) for c in cells):
        notes.append(f"{INTERVAL_FLAG} the interval does not contain the value shown. FID is biased upward at finite "
                     "N; its half-sampling interval is centred on the bias-corrected FID (given in the CSV as "
                     "ci_estimate) and covers the infinite-N value (docs/metrics/image.md).")
    return notes


_COUNT_COLUMNS = (("Samples", "n"), ("Negatives", "n_neg"), ("Positives", "n_pos"), ("Uncertain", "n_uncertain"),
                  ("Blank", "n_blank"))
#: Table 1's rows as the paper prints them (its "Cgml." for Cardiomegaly included), in PAPER_PATHOLOGIES order
PAPER_COUNT_ROWS = ("Atl.", "Cgml.", "Cnsl.", "Edm.", "Enl.", "Les.", "Opc.", "Eff.", "Pnm.", "Ptx.")
_PAPER_COUNT_COLUMNS = ("# of Samples", "# of Negatives", "# of Positives")


def _build_label_counts(measured: Measurements, paper: dict) -> BuiltTable:
    """Table 1: per XRV task and pathology, the studies with a defined ground truth under the run's label policy
    (samples, negatives, positives) and the raw uncertain and blank labels, from the first model's record; with
    `paper` (--with-paper), the paper's counts on its MIMIC-CXR test set beside them."""
    from xgem_bench.metrics.xrv_classification import LABEL_POLICIES
    rows = []
    for task in XRV_TASKS:
        found = [(model, record) for model in measured.models()
                 if (record := measured.record(task, model, "xrv-classification")) is not None]
        if not found:
            continue
        model, (_, record) = found[0]
        values, settings = record["values"], record.get("settings", {})
        policy = ", ".join(f"{key}={settings.get(key, '?')}" for key in LABEL_POLICIES)
        measured._note(f"{task}: counts from {model}'s xrv-classification record ({int(values.get('n_studies', 0))} "
                       f"studies), label policy {policy}")
        differing = [m for m, (_, r) in found[1:] if any(r["values"].get(f"{key}/{label}") != values.get(
            f"{key}/{label}") for _, key in _COUNT_COLUMNS for label in PAPER_PATHOLOGIES)]
        if differing:
            measured._note(f"{task}: {', '.join(differing)} scored other studies or used another policy: their "
                           "counts differ from these")
        for label, printed in zip(PAPER_PATHOLOGIES, PAPER_COUNT_ROWS):
            cells = [Cell(value=values[f"{key}/{label}"]) if f"{key}/{label}" in values else Cell(mark="n/a")
                     for _, key in _COUNT_COLUMNS]
            if paper:
                cells += [Cell(value=paper[(COUNT_TABLE, "", "-", printed, column)]) for column in _PAPER_COUNT_COLUMNS]
            rows.append(Row(label, label, task, "xgem-bench", cells))  # the CSV's model column names the pathology
    headers = [("", name) for name, _ in _COUNT_COLUMNS]
    if paper:
        headers += [("", f"{name} (paper)") for name, _ in _COUNT_COLUMNS[:3]]
    built = BuiltPanel("", headers, rows, [True] * len(headers), ["Task", "Pathology"])
    caption = ("Number of studies with a ground truth per pathology for the XRV classification of generated X-rays "
               "(Table 3): samples = negatives + positives under the label policy; uncertain and blank are the raw "
               "labels before it." + (" Columns marked (paper): the paper's Table 1, its MIMIC-CXR test set under its own "
                                      "label policy (the same counts beside every task)." if paper else ""))
    return BuiltTable(COUNT_TABLE, caption, [built], digits=0)


def _build_coherence(measured: Measurements, paper: dict, ci: dict | None) -> BuiltTable:
    """Table 7: one row per joint task, one column per model, plus the level of real pairs (and the paper's)."""
    models = [m for m in measured.models()
              if any(measured.record(t, m, COHERENCE_METRIC) for t in JOINT_TASKS)]
    columns = [Column(m, COHERENCE_METRIC, COHERENCE_KEY) for m in models]
    headers = [("Cosine similarity", m) for m in models] + [("Cosine similarity", "Real pairs")]
    paper_columns = ["Independent Gen.", "Multi-Output Gen."] if paper else []
    headers += [("XGeM (paper)", c) for c in paper_columns]
    rows = []
    for task in JOINT_TASKS:
        cells = []
        for column in columns:
            cell = measured.cell(task, column.label, COHERENCE_METRIC, COHERENCE_KEY)
            if ci and cell.mark == "":
                cell = _with_interval(cell, measured, task, column.label, column, ci)
            cells.append(cell)
        real = [measured.cell(task, m, COHERENCE_METRIC, COHERENCE_REAL_KEY) for m in models]
        cells.append(next((c for c in real if c.mark == ""), Cell(mark="-")))
        cells += [Cell(value=paper[key]) if (key := ("7", "", task, "XGeM", c)) in paper else Cell(mark="-")
                  for c in paper_columns]
        rows.append(Row(task, "", task, "xgem-bench", cells))
    built = BuiltPanel("", headers, rows, [True] * len(headers), ["Task"])
    _mark_best_across(built, [m not in REFERENCE_MODELS for m in models])
    caption = ("Cosine similarity, in XGeM's shared prompt-encoder space, between the two outputs generated for one "
               "study; columns are models (joint or independent generation); 'Real pairs' is the level of the real "
               "study's own modalities.")
    caption += _encoder_sentence(measured)
    return BuiltTable("7", caption, [built])


#: how Table 7's caption names a coherence encoder setting (the XGeM configurations `xgem-bench train` builds)
_ENCODERS = {"tiny": "the tiny XGeM prompt encoder, trained on the synthetic demo data (not the paper's encoder)",
             "paper": "the full-size (paper configuration) XGeM prompt encoder"}


def _encoder_sentence(measured: Measurements) -> str:
    """' Encoder: …' naming the prompt encoder(s) of the coherence records (numbers of different encoders differ)."""
    encoders = dict.fromkeys(record.get("settings", {}).get("encoder")
                             for run in measured.runs for entry in run["models"].values()
                             for record in entry.get("metrics", {}).values() if record["metric"] == COHERENCE_METRIC)
    if not encoders:
        return ""
    named = [_ENCODERS.get(e, f"the XGeM checkpoint folder {e}" if e else "not recorded by the run")
             for e in encoders]
    return f" Encoder: {'; '.join(named)}."


def _build_intra_study(measured: Measurements, paper: dict, ci: dict | None) -> BuiltTable:
    """Table A2: per model, the intra-study BLEU recorded by the run of one of the paired tasks (the metric
    `intra-study-bleu` pairs the F->T and L->T reports at run time; the first of the two runs has no pair yet)."""
    layout = LAYOUTS["A2"]
    (panel,) = layout.panels
    rows = []
    for model in measured.models():
        ran = [task for task in INTRA_STUDY_TASKS if (task, model) in measured.entries]
        if not ran:
            rows.append(Row(model, model, "", "xgem-bench", [Cell(mark="-") for _ in panel.columns]))
            continue
        recorded = {task: found[1] for task in ran
                    if (found := measured.record(task, model, INTRA_STUDY_METRIC)) and found[1].get("status") == "ok"}
        # the run with more paired studies; no value anywhere: the cells say why (a note)
        task = max(recorded, key=lambda t: recorded[t]["values"].get("n_studies", 0)) if recorded else ran[-1]
        cells = []
        for column in panel.columns:
            cell = measured.cell(task, model, column.metric, column.key)
            if cell.mark == "":
                cell = replace(cell, n=recorded[task]["values"].get("n_studies"))
                if ci:
                    cell = _with_interval(cell, measured, task, model, column, ci)
            cells.append(cell)
        if recorded:
            record = recorded[task]
            measured._note(f"{model}: intra-study BLEU over {record['values']['n_studies']} studies "
                           f"({record['values']['n_skipped_studies']} without two non-empty reports), "
                           f"{record['settings']['convention']}, recorded by its {task} run")
        rows.append(Row(model, model, "", "xgem-bench", cells))
    if paper:
        rows += _paper_rows("A2", panel, "", paper)
    built = BuiltPanel("", [(c.group, c.label) for c in panel.columns], rows, [True] * len(panel.columns), ["Model"])
    _mark_best(built)
    return BuiltTable("A2", layout.caption, [built])


def _displayed(value: float, digits: int = 2) -> float:
    return round(value, digits)


def _mark_best(panel: BuiltPanel, digits: int = 2) -> None:
    """Bold the best of our non-reference rows per column and row group (ties at the shown precision all bold)."""
    for group in dict.fromkeys(r.task for r in panel.rows):
        rows = [r for r in panel.rows if r.task == group and r.source == "xgem-bench" and r.model not in REFERENCE_MODELS]
        for j, higher in enumerate(panel.higher_is_better):
            values = [_displayed(r.cells[j].value, digits) for r in rows if r.cells[j].value is not None]
            if not values or (len(values) > 1 and len(set(values)) == 1):  # all tied: none is better than another
                continue
            best = max(values) if higher else min(values)
            for r in rows:
                if r.cells[j].value is not None and _displayed(r.cells[j].value, digits) == best:
                    r.cells[j].bold = True


def _mark_best_across(panel: BuiltPanel, competing: list[bool], digits: int = 2) -> None:
    """Table 7: per row, bold the best of the competing model columns (not reference, real-pair or paper columns)."""
    for row in panel.rows:
        cells = [c for c, keep in zip(row.cells, competing) if keep and c.value is not None]
        if not cells:
            continue
        if len(cells) > 1 and len({_displayed(c.value, digits) for c in cells}) == 1:
            continue
        best = max(_displayed(c.value, digits) for c in cells)
        for cell in cells:
            cell.bold = _displayed(cell.value, digits) == best


def table_text(runs: Sequence[str | Path | dict], table: str, fmt: str = "md", ci: dict | None = None,
               with_paper: bool = False, digits: int = 2, root: str | Path = "results", all_tasks: bool = False,
               leaderboard: str | Path | None = None) -> str:
    """`xgem_bench.api.tables`: one table of runs (folders, ids under `root` or loaded results) rendered in `fmt`;
    Tables 8-11 and A4-A6 come from utility runs (`xgem-bench utility ...`), whose intervals were computed at run
    time (`ci` shows them)."""
    from xgem_bench.utility.tables import UTILITY_TABLES, tables_text
    if str(table).upper() in UTILITY_TABLES:
        return tables_text(runs, table, fmt, with_paper, digits, bool(ci), root)
    built = build_table(table, load_runs(runs, root), with_paper=with_paper, ci=dict(ci) if ci else None,
                        all_tasks=all_tasks,
                        leaderboard=Path(leaderboard) if leaderboard else None)
    return render(built, fmt, digits=digits)


class _CallableModule(types.ModuleType):
    """`xgem_bench.tables` is both this module and the API function `xgem_bench.api.tables`: importing a submodule
    sets the package attribute of the same name to the module, so the module itself answers the call."""

    def __call__(self, *args, **kwargs) -> str:
        return table_text(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
