"""Stratified tables (`tables --by pathology|view|sex|age|race`) and forest plots (`plots --by ...`) of the strata
that runs store (`xgem_bench.strata`).

A stratified table keeps the columns of the chosen table's layout and repeats its rows per stratum: the row group is
"<stratum>" (or "<stratum>, <task>" for layouts whose rows are grouped by task). Cells of strata smaller than the
run's `min_studies` print `n<MIN`; intervals (`ci`) resample the stratum's studies with the statistic the aggregate
uses. Only tables whose cells are metric values can be stratified (not 1, 7 or A2).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from xgem_bench import strata as store
from xgem_bench.extended_table import EXTENDED_TABLE
from xgem_bench.measurements import Cell, Measurements, dataset_descriptions
from xgem_bench.table_layouts import LAYOUTS
from xgem_bench.table_render import BuiltPanel, BuiltTable, Row, render
from xgem_bench.tables import _interval_notes, _mark_best, _ran_only


class _Strata:
    """The strata of the runs of a table, read once per run."""

    def __init__(self, measured: Measurements, by: str):
        self.measured = measured
        #: run id -> (its strata.csv rows of `by`, stratum -> study ids, its min_studies)
        self.frames: dict[str, tuple] = {}
        self.order: list[str] = []  # strata in the order the runs list them
        for run in measured.runs:
            frame, members = store.load_strata(run)
            self.frames[run["run_id"]] = (frame[frame["by"] == by], members.get(by, {}),
                                          run["strata"]["settings"]["min_studies"])
            self.order += [s for s in members.get(by, {}) if s not in self.order]
        if not self.order:
            raise ValueError(f"the runs have no {by!r} strata (the dataset records no {by} for their studies)")

    def row(self, task: str, model: str, metric: str, key: str, stratum: str):
        """(run, metric record, the model's name in the run, its strata.csv row or None); None without a record."""
        found = self.measured.record(task, model, metric)
        if found is None:
            return None
        run, record = found
        frame = self.frames[run["run_id"]][0]
        name = self.measured.names[(task, model)]
        hit = frame[(frame["model"] == name) & (frame["metric"] == metric)
                    & (frame["modality"].astype(str) == str(record["modality"])) & (frame["key"] == key)
                    & (frame["stratum"] == stratum)]
        return run, record, name, (None if hit.empty else hit.iloc[0])

    def cell(self, task: str, model: str, metric: str, key: str, stratum: str, ci: dict | None) -> Cell:
        found = self.row(task, model, metric, key, stratum)
        if found is None or found[3] is None:
            return Cell(mark="-")
        run, record, name, row = found
        if row["too_small"]:
            return Cell(mark=f"n<{self.frames[run['run_id']][2]}", n=int(row["n"]))
        if not np.isfinite(row["value"]):
            return Cell(mark="n/a", n=int(row["n"]))
        cell = Cell(value=float(row["value"]), n=int(row["n"]))
        if ci:
            interval = self.interval(run, name, record, key, self.frames[run["run_id"]][1][stratum], ci)
            if interval is not None:
                cell = replace(cell, low=interval.low, high=interval.high, ci_method=interval.method,
                               ci_estimate=interval.estimate)
        return cell

    def interval(self, run: dict, model: str, record: dict, key: str, ids: Sequence[str], ci: dict):
        from xgem_bench import stats
        from xgem_bench.recompute import run_resampleable
        try:
            data = run_resampleable(run, model, record, key)
            scored = set(data.study_ids.tolist())
            subset = data.subset([i for i in ids if i in scored])
            return stats.bootstrap_ci(subset, n_resamples=ci["n_resamples"], level=ci["level"], seed=ci["seed"])
        except (stats.StatsUnavailable, ValueError) as error:
            self.measured._note(f"no interval for {model}, {record['metric']} {key} in a stratum: {error}")
            return None


def stratified_table(number: str, runs: Sequence[dict], by: str, ci: dict | None = None,
                     all_tasks: bool = False) -> BuiltTable:
    """Table `number`'s columns, its rows repeated per stratum of `by` (see the module docstring)."""
    store.check_by(by)
    number = str(number).upper()
    if number == EXTENDED_TABLE:
        from xgem_bench.extended_table import extended_layout
        layout, notes = extended_layout(runs)
    elif number in LAYOUTS and number != "A2":
        layout, notes = LAYOUTS[number], []
    else:
        raise ValueError(f"table {number} cannot be stratified; --by works with tables "
                         f"{', '.join(n for n in LAYOUTS if n != 'A2')} and extended")
    measured = Measurements(runs)
    strata = _Strata(measured, by)
    ran = {run["task"] for run in runs}
    panels = []
    for panel in (layout.panels if all_tasks else [p for p in (_ran_only(p, ran) for p in layout.panels) if p]):
        rows = []
        for stratum in strata.order:
            for task_group in panel.row_tasks or ("",):
                group = f"{stratum}, {task_group}" if task_group else stratum
                for model in measured.models():
                    if task_group and (task_group, model) not in measured.entries:
                        continue
                    cells = [strata.cell(column.task or task_group, model, column.metric, column.key, stratum, ci)
                             for column in panel.columns]
                    rows.append(Row(model, model, group, "xgem-bench", cells))
        built = BuiltPanel(panel.title, [(c.group, c.label) for c in panel.columns], rows,
                           [measured.higher_is_better(c.metric) for c in panel.columns],
                           [f"{by.capitalize()}, Task" if panel.row_tasks else by.capitalize(), "Model"])
        _mark_best(built)
        panels.append(built)
    caption = f"{layout.caption} Stratified by {by}{_BY_MEANING.get(by, '')}."
    table = BuiltTable(f"{number}-by-{by}", caption, panels, notes=notes)
    table.dataset = "; ".join(dataset_descriptions(measured))
    table.notes = [f"Dataset: {table.dataset}.",
                   "n<MIN: a stratum with fewer studies than its run's --strata-min-studies (value in strata.csv, "
                   "not shown).",
                   "Set-level metrics (FID, corpus BLEU, label F1, AUC) are recomputed on each stratum's studies; "
                   "per-study metrics are averaged over them."] + notes + measured.notes
    if any(r["dataset"].get("synthetic") for r in runs):
        table.notes.append("Synthetic data: these numbers test the pipeline; they say nothing about real patients.")
    if ci:
        table.ci_style = ci.get("style", "bracket")
        table.notes += _interval_notes(table, ci)
    if not any(c.value is not None or c.mark.startswith("n<") for p in table.panels for r in p.rows for c in r.cells):
        raise ValueError(f"Table {number}-by-{by} would be empty: no metric of its columns was stratified in these "
                         "runs")
    return table


def stratified_text(runs, table: str, by: str, fmt: str = "md", ci: dict | None = None, with_paper: bool = False,
                    digits: int = 2, root="results", all_tasks: bool = False) -> str:
    """`xgem_bench.api.tables(..., by=...)`: a stratified table of runs (folders, ids under `root` or loaded) in
    `fmt`."""
    from xgem_bench.results import load_runs
    if with_paper:
        raise ValueError("--with-paper cannot be stratified: the paper reports no strata")
    return render(stratified_table(table, load_runs(runs, root), by, ci=dict(ci) if ci else None,
                                   all_tasks=all_tasks), fmt, digits=digits)


_BY_MEANING = {"pathology": " (studies whose reference label of the finding is positive; a study may be in several)",
               "view": " (the frontal's view position)", "age": " (age bands in years)"}


# ---- forest plot --------------------------------------------------------------------------------------------------
def forest_plots(runs: Sequence[dict], by: str, out: Path, formats: Sequence[str], ci: dict | None = None,
                 metrics: Sequence[str] | None = None) -> list[Path]:
    """Per task and metric (primary value), one horizontal forest plot: a row per stratum, a marker per model, the
    aggregate over all studies as a dashed line per model, intervals with `ci`; too-small strata hollow."""
    from xgem_bench.plots import _finish, _pyplot, figure_caption
    store.check_by(by)
    measured = Measurements(runs)
    strata = _Strata(measured, by)
    paths = []
    wanted = {(task, record["metric"]) for (task, model), (_, entry) in measured.entries.items()
              if entry.get("status") == "ok" for record in entry.get("metrics", {}).values()
              if record.get("status") == "ok" and (not metrics or record["metric"] in metrics)}
    for task, metric in sorted(wanted):
        models = [m for m in measured.models() if measured.record(task, m, metric)]
        key = measured.record(task, models[0], metric)[1]["primary"]
        plt = _pyplot()
        figure, axis = plt.subplots(figsize=(6, 0.35 * len(strata.order) * max(1, len(models)) ** 0.5 + 1.5))
        step = 0.8 / max(1, len(models))
        counts, drawn = [], False
        for m, model in enumerate(models):
            color = f"C{m}"
            aggregate = measured.record(task, model, metric)[1]["values"].get(key)
            if aggregate is not None and np.isfinite(aggregate):
                axis.axvline(aggregate, color=color, linestyle="--", linewidth=0.8, alpha=0.7)
            for s, stratum in enumerate(strata.order):
                y = s + (m - (len(models) - 1) / 2) * step
                cell = strata.cell(task, model, metric, key, stratum, ci)
                value = cell.value
                if value is None and cell.mark.startswith("n<"):  # too small: drawn hollow, never hidden
                    value = _too_small_value(strata, task, model, metric, key, stratum)
                if value is None:
                    continue
                counts.append(cell.n)
                hollow = cell.value is None
                axis.plot([value], [y], marker="o", color=color, markerfacecolor="white" if hollow else color,
                          linestyle="none", label=model if s == 0 else None)
                if cell.low is not None and np.isfinite(cell.low) and np.isfinite(cell.high):
                    axis.hlines(y, cell.low, cell.high, colors=[color], linewidth=1.2)
                    drawn = True
        axis.set_yticks(range(len(strata.order)), strata.order)
        axis.invert_yaxis()
        caption = (figure_caption(measured, counts) + " Hollow: fewer studies than the run's --strata-min-studies. Dashed: "
                   "the value over all studies.")
        if drawn:
            caption += (f" Segments: {ci['level']:.0%} intervals over the stratum's studies ({ci['n_resamples']} "
                        "resamples; FID's are centred on its bias-corrected estimate and may not contain the point).")
        better = "higher" if measured.higher_is_better(metric) else "lower"
        paths += _finish(figure, axis, f"{metric} {key} by {by}, {task} ({better} is better)", "", out, f"strata-{by}-{metric}-{task}", formats,
                         caption, None)
    return paths


def _too_small_value(strata: _Strata, task: str, model: str, metric: str, key: str, stratum: str) -> float | None:
    found = strata.row(task, model, metric, key, stratum)
    value = float(found[3]["value"]) if found and found[3] is not None else float("nan")
    return value if np.isfinite(value) else None
