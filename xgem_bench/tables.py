"""The paper's result tables (Tables 2-7, A1, A2) built from one or more finished runs, as LaTeX, Markdown or CSV.

Each run holds one task; a table combines the runs of its tasks. Which metric, modality and value key feed each column
is declared once, in `LAYOUTS`. Cells read the results store only: "-" where a model does not support (or was not run
on) the task, "n/a" where the metric was skipped or failed (the reason is listed under the table). The best value per
column (per task block where rows are grouped by task) is bold, among our models, reference rows (the oracle, i.e.
real data) excluded. `with_paper` adds the paper's published values (results/paper/xgem_paper_tables.json) as extra
rows, marked "(paper)" and never considered for bold.
"""
from __future__ import annotations

import json
import math
import sys
import types
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence


from xgem_bench.data.study import PAPER_PATHOLOGIES

PAPER_VALUES = Path(__file__).resolve().parent.parent / "results" / "paper" / "xgem_paper_tables.json"
#: adapter name -> the model's name in the paper (also the row label of its published values)
PAPER_NAMES = {"xgem": "XGeM", "codi-xr": "CoDiXR", "codi": "CoDi", "roentgen": "RoentGen", "unixgen": "UniXGen",
               "llm-cxr": "LLM-CXR", "cxrmate": "CXRMate", "oracle": "Real Data"}
#: models that are references, not competitors: shown, never bold
REFERENCE_MODELS = frozenset({"oracle"})
TABLES = ("2", "3", "4", "5", "6", "7", "A1", "A2")
EXTENDED_TABLE = "EXTENDED"  # the metrics beyond the paper: xgem_bench/extended_table.py
#: Table 1 holds no model results: the ground-truth counts behind Table 3, from the runs' XRV-classification records
COUNT_TABLE = "1"
FORMATS = ("latex", "md", "csv")
CI_STYLES = ("bracket", "pm")
#: interval methods (xgem_bench.intervals) as named under tables
INTERVAL_NAMES = {"percentile": "percentile bootstrap", "basic": "basic bootstrap", "bca": "BCa bootstrap",
                  "subsampling": "half-sampling without replacement (n/2, rescaled; bias-corrected)",
                  "extrapolated": "FID extrapolated to infinite N with the half-sample spread"}
INTERVAL_FLAG = "†"


# ---- layouts: the one place that maps paper columns to metrics and value keys -------------------------------------
@dataclass(frozen=True)
class Column:
    label: str  # sub-header (and the column name in the paper's data file)
    metric: str
    key: str
    #: task of the column; None when rows are grouped by task (the row's task is used)
    task: str | None = None
    group: str = ""  # top header spanning several columns


@dataclass(frozen=True)
class Panel:
    title: str  # the paper's panel name ("AUC", "F1" in Table 3), "" for single-panel tables
    columns: tuple[Column, ...]
    #: rows grouped by these tasks (Tables 3, 5); empty: one row per model, tasks in the column groups
    row_tasks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layout:
    number: str
    caption: str
    panels: tuple[Panel, ...]


_IMAGE_TASKS = ("T->F", "L->F", "L+T->F", "T->L", "F->L", "F+T->L")
_REPORT_TASKS = ("F->T", "L->T", "F+L->T")
_JOINT_TASKS = ("T->F+L", "L->F+T", "F->L+T")
_SHORT = {"Atelectasis": "Atl.", "Cardiomegaly": "Cmgl.", "Consolidation": "Cnsl.", "Edema": "Edm.",
          "Enlarged Cardiomediastinum": "Enl.", "Lung Lesion": "Les.", "Lung Opacity": "Opc.",
          "Pleural Effusion": "Eff.", "Pneumonia": "Pnm.", "Pneumothorax": "Ptx.", "No Finding": "No F."}
_AVERAGES = (("Micro", "micro"), ("Macro", "macro"), ("Weighted", "weighted"))


def _task_columns(tasks, spec: Sequence[tuple[str, str, str]]) -> tuple[Column, ...]:
    """Per task, one column per (label, metric, key)."""
    return tuple(Column(label, metric, key, task=task, group=task) for task in tasks for label, metric, key in spec)


def _class_columns(metric: str, score: str, labels: Sequence[str]) -> tuple[Column, ...]:
    """Per class `<score>/<label>`, then the averages `<score>_micro|macro|weighted`."""
    per_class = [Column(_SHORT[name], metric, f"{score}/{name}") for name in labels]
    return tuple(per_class + [Column(label, metric, f"{score}_{avg}") for label, avg in _AVERAGES])


_BLEU = tuple((f"BLEU-{n}", "bleu", f"bleu{n}") for n in range(1, 5))
_XRV_TASKS = ("T->F", "L->F", "L+T->F")

LAYOUTS: dict[str, Layout] = {
    "2": Layout("2", "FID of generated X-rays (lower is better); v3 = Inception-v3, XRV = XRV-DenseNet backbone.",
                (Panel("", _task_columns(_IMAGE_TASKS, [("v3", "fid-inception", "fid"), ("XRV", "fid-xrv", "fid")])),)),
    "A1": Layout("A1", "FID of generated X-rays with the XRV-mimic backbone (lower is better).",
                 (Panel("", _task_columns(_IMAGE_TASKS, [("XRV-mimic", "fid-xrv-mimic", "fid")])),)),
    "3": Layout("3", "XRV-DenseNet classification of generated frontal X-rays: AUC and F1 per pathology.",
                (Panel("AUC", _class_columns("xrv-classification", "auc", PAPER_PATHOLOGIES), _XRV_TASKS),
                 Panel("F1", _class_columns("xrv-classification", "f1", PAPER_PATHOLOGIES), _XRV_TASKS))),
    "4": Layout("4", "BLEU of generated reports (higher is better).", (Panel("", _task_columns(_REPORT_TASKS, _BLEU)),)),
    "5": Layout("5", "CheXpert-labeler F1 of generated reports per finding.",
                (Panel("", _class_columns("chexpert-f1", "f1", PAPER_PATHOLOGIES + ("No Finding",)), _REPORT_TASKS),)),
    "6": Layout("6", "RadGraph-F1 and RaTEScore of generated reports (higher is better).",
                (Panel("", _task_columns(_REPORT_TASKS, [("RadGraph-F1", "radgraph-f1", "radgraph_f1"),
                                                         ("RaTE", "ratescore", "ratescore")])),)),
    "A2": Layout("A2", "Intra-study BLEU: the reports generated for one study from its frontal (F->T) and from its "
                       "lateral (L->T) X-ray scored against each other (higher is better).",
                 (Panel("", tuple(Column(label, metric, key) for label, metric, key in _BLEU)),)),
}
#: Table A2 pairs the reports a model generated for the same study in these runs (read from the generation cache)
INTRA_STUDY_TASKS = ("F->T", "L->T")
# Table 7 turns the other way (rows = joint tasks, one column per model); its metric:
COHERENCE_METRIC, COHERENCE_KEY, COHERENCE_REAL_KEY = "coherence-cosine", "cosine", "cosine_real"


# ---- the numbers of the runs --------------------------------------------------------------------------------------
@dataclass
class Cell:
    value: float | None = None
    low: float | None = None
    high: float | None = None
    #: interval method and the point it is built around (a bias-corrected value for FID's half-sampling)
    ci_method: str | None = None
    ci_estimate: float | None = None
    #: "" (a number), "-" (task not supported / not run), "n/a" (metric skipped or failed)
    mark: str = ""
    bold: bool = False
    #: studies behind the number (the model's generated and scored studies)
    n: int | None = None


@dataclass
class Row:
    label: str
    model: str
    task: str  # the row group ("" when rows are not grouped)
    source: str  # "xgem-bench" or "paper"
    cells: list[Cell]


@dataclass
class BuiltPanel:
    title: str
    headers: list[tuple[str, str]]  # (group, label) per column
    rows: list[Row]
    higher_is_better: list[bool]
    row_head: list[str]  # headers of the label columns

    @property
    def grouped(self) -> bool:
        return len(self.row_head) == 2


@dataclass
class BuiltTable:
    number: str
    caption: str
    panels: list[BuiltPanel]
    notes: list[str] = field(default_factory=list)
    #: note -> its technical detail (reasons naming paths and commands): in Markdown, left out of LaTeX
    details: dict[str, str] = field(default_factory=dict)
    dataset: str = ""  # "demo (split test, synthetic)", for CSV rows
    #: how intervals are printed: `bracket` ([low, high]; intervals are not symmetric) or `pm` (± half-width)
    ci_style: str = "bracket"
    #: decimals of every cell when fixed by the table (counts), else None (the caller's `digits`)
    digits: int | None = None


class Measurements:
    """The runs of a table, indexed by (task, row label).

    The row label is the model name; when one model ran with different adapter settings in different runs (e.g. joint
    vs independent generation for Table 7), each label adds the settings that differ: `xgem (joint=independent)`.
    """

    def __init__(self, runs: Sequence[dict]):
        self.runs = list(runs)
        self.entries: dict[tuple[str, str], tuple[dict, dict]] = {}
        self.names: dict[tuple[str, str], str] = {}  # (task, label) -> model name in the run
        self.notes: list[str] = []
        self.details: dict[str, str] = {}
        #: (metric, problem, reason) -> "model on task", ...: one note per missing metric, not one per model
        self.missing: dict[tuple[str, str, str], list[str]] = {}
        seen_settings: dict[str, list[dict]] = {}
        for run in self.runs:
            for model, entry in run["models"].items():
                seen_settings.setdefault(model, []).append(entry.get("settings") or {})
        for run in self.runs:
            for model, entry in run["models"].items():
                key = (run["task"], _label(model, entry.get("settings") or {}, seen_settings[model]))
                if key in self.entries:
                    other = self.entries[key][0]
                    if _same_configuration(other, self.entries[key][1], run, entry):  # a shared baseline: one row
                        self._note(f"{model} on {run['task']} ran with identical settings in "
                                   f"{other.get('run_dir', other['run_id'])} and {run.get('run_dir', run['run_id'])}"
                                   f"; one row, from the first")
                        continue
                    raise ValueError(f"model {model!r} on task {run['task']} appears in two runs with the same "
                                     f"settings ({other.get('run_dir', other['run_id'])} and "
                                     f"{run.get('run_dir', run['run_id'])}); pass only one of them")
                self.entries[key] = (run, entry)
                self.names[key] = model

    def models(self) -> list[str]:
        """Every model of the runs, in first-seen order."""
        seen: list[str] = []
        for _, model in self.entries:
            if model not in seen:
                seen.append(model)
        return seen

    def record(self, task: str, model: str, metric: str) -> tuple[dict, dict] | None:
        """(run, metric record) of `metric` for a model on a task, whatever its modality; None if absent."""
        found = self.entries.get((task, model))
        if not found or found[1].get("status") != "ok":
            return None
        run, entry = found
        for record in entry.get("metrics", {}).values():
            if record["metric"] == metric:
                return run, record
        return None

    def interval(self, task: str, model: str, metric: str, key: str, ci: dict):
        """The bootstrap interval of one value over studies (`ci`: n_resamples, level, seed), or None when the run
        cannot resample it (a note says why). Shared by tables and plots."""
        from xgem_bench import stats
        run, record = self.record(task, model, metric)
        try:
            data = stats.run_resampleable(run, self.names[(task, model)], record, key)
            return stats.bootstrap_ci(data, n_resamples=ci["n_resamples"], level=ci["level"], seed=ci["seed"])
        except stats.StatsUnavailable as error:
            self._note(f"no interval for {model} on {task}, {metric} {key}: {error}")
            return None

    def cell(self, task: str, model: str, metric: str, key: str) -> Cell:
        if (task, model) not in self.entries or self.entries[(task, model)][1].get("status") != "ok":
            return Cell(mark="-")
        found = self.record(task, model, metric)
        if found is None:
            return self._missing(metric, "was not run", "", model, task)
        _, record = found
        if record.get("status") != "ok":
            return self._missing(metric, str(record.get("status")), str(record.get("reason") or ""), model, task)
        if record.get("backbone"):  # a stand-in backbone (the demo's) is named under every table that uses it
            self._note(f"{metric}: {record['backbone']}")
        value = record.get("values", {}).get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return self._missing(metric, f"has no value {key!r}", "", model, task)
        return Cell(value=float(value), n=self.entries[(task, model)][1].get("n_generated"))

    def _missing(self, metric: str, problem: str, reason: str, model: str, task: str) -> Cell:
        who = self.missing.setdefault((metric, problem, reason), [])
        if f"{model} on {task}" not in who:
            who.append(f"{model} on {task}")
        return Cell(mark="n/a")

    def missing_notes(self) -> list[str]:
        notes = []
        for (metric, problem, reason), who in self.missing.items():
            note = f"n/a: {metric} {problem} for {', '.join(who)}"
            notes.append(note)
            if reason:
                self.details[note] = reason
        return notes

    def higher_is_better(self, metric: str) -> bool:
        for run in self.runs:
            for entry in run["models"].values():
                for record in entry.get("metrics", {}).values():
                    if record["metric"] == metric and "higher_is_better" in record:
                        return bool(record["higher_is_better"])
        from xgem_bench.metrics import METRICS, get_metric_class
        return get_metric_class(metric).higher_is_better if metric in METRICS else True

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def _same_configuration(run_a: dict, a: dict, run_b: dict, b: dict) -> bool:
    """Same generations (the cache key covers adapter, version, checkpoint, task, settings and dataset) of the same
    studies with the same seed, scored with the same metric settings."""
    def metrics(entry):
        return {k: (m.get("status"), m.get("signature")) for k, m in entry.get("metrics", {}).items()}

    def studies(run):
        data = run.get("dataset", {})
        return run.get("seed"), data.get("split"), data.get("limit"), data.get("n_evaluated")
    return (a.get("cache_key") is not None and a.get("cache_key") == b.get("cache_key")
            and studies(run_a) == studies(run_b) and metrics(a) == metrics(b))


def _label(model: str, settings: dict, all_settings: list[dict]) -> str:
    varying = sorted({k for other in all_settings for k in set(other) | set(settings)
                      if any(o.get(k) != settings.get(k) for o in all_settings)})
    return f"{model} ({', '.join(f'{k}={settings.get(k)}' for k in varying)})" if varying else model


def load_paper_values(path: Path = PAPER_VALUES) -> dict[tuple[str, str, str, str, str], float]:
    """(table, panel, task, paper model name, column) -> published value."""
    document = json.loads(Path(path).read_text())
    if document.get("kind") != "published-values":
        raise ValueError(f"{path} is not a published-values file")
    return {(v["table"], v["panel"], v["task"], v["model"], v["column"]): v["value"] for v in document["values"]}


# ---- building ----------------------------------------------------------------------------------------------------
def build_table(number: str, runs: Sequence[dict], with_paper: bool = False, ci: dict | None = None,
                cache_root: Path | None = None, all_tasks: bool = False) -> BuiltTable:
    """Table `number` from the runs. `ci`: None, or interval settings {n_resamples, level, seed, and optionally
    style: bracket (default) or pm}.

    Columns and row groups of tasks that no run covers are left out unless `all_tasks`; a table without a single
    measured number is a ValueError that says why.

    `cache_root`: where the runs' generation cache now lives, if it moved (Table A2 reads generated reports there;
    default: the cache folder each run recorded)."""
    number = str(number).upper()
    if number not in (COUNT_TABLE, *TABLES, EXTENDED_TABLE):
        raise ValueError(f"unknown table {number!r}; the paper's tables are {', '.join((COUNT_TABLE, *TABLES))}, "
                         "and `extended` shows the metrics beyond the paper")
    measured = Measurements(runs)
    paper = load_paper_values() if with_paper else {}
    if number == COUNT_TABLE:
        table = _build_label_counts(measured)
    elif number == "7":
        table = _build_coherence(measured, paper, ci)
    elif number == "A2":
        table = _build_intra_study(measured, paper, cache_root)
    else:
        if number == EXTENDED_TABLE:
            from xgem_bench.extended_table import extended_layout
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
    if with_paper:
        table.notes.append("Rows and columns marked (paper) are published values transcribed from the XGeM paper, "
                           "not measured.")
    return table


def dataset_descriptions(measured: Measurements) -> list[str]:
    found = {(r["dataset"]["name"], r["dataset"].get("split", ""), bool(r["dataset"].get("synthetic")))
             for r in measured.runs}
    return [f"{name} (split {split}{', synthetic' if synthetic else ''})" for name, split, synthetic in sorted(found)]


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
    if any(_flagged(c) for c in cells):
        notes.append(f"{INTERVAL_FLAG} the interval does not contain the value shown. FID is biased upward at finite "
                     "N; its half-sampling interval is centred on the bias-corrected FID (given in the CSV as "
                     "ci_estimate) and covers the infinite-N value (docs/metrics/image.md).")
    return notes


_COUNT_COLUMNS = (("Samples", "n"), ("Negatives", "n_neg"), ("Positives", "n_pos"), ("Uncertain", "n_uncertain"),
                  ("Blank", "n_blank"))


def _build_label_counts(measured: Measurements) -> BuiltTable:
    """Table 1: per XRV task and pathology, the studies with a defined ground truth under the run's label policy
    (samples, negatives, positives) and the raw uncertain and blank labels, from the first model's record."""
    from xgem_bench.metrics.xrv_classification import LABEL_POLICIES
    rows = []
    for task in _XRV_TASKS:
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
        for label in PAPER_PATHOLOGIES:
            cells = [Cell(value=values[f"{key}/{label}"]) if f"{key}/{label}" in values else Cell(mark="n/a")
                     for _, key in _COUNT_COLUMNS]
            rows.append(Row(label, label, task, "xgem-bench", cells))  # the CSV's model column names the pathology
    built = BuiltPanel("", [("", name) for name, _ in _COUNT_COLUMNS], rows, [True] * len(_COUNT_COLUMNS),
                       ["Task", "Pathology"])
    caption = ("Number of studies with a ground truth per pathology for the XRV classification of generated X-rays "
               "(Table 3): samples = negatives + positives under the label policy; uncertain and blank are the raw "
               "labels before it.")
    return BuiltTable(COUNT_TABLE, caption, [built], digits=0)


def _build_coherence(measured: Measurements, paper: dict, ci: dict | None) -> BuiltTable:
    """Table 7: one row per joint task, one column per model, plus the level of real pairs (and the paper's)."""
    models = [m for m in measured.models()
              if any(measured.record(t, m, COHERENCE_METRIC) for t in _JOINT_TASKS)]
    columns = [Column(m, COHERENCE_METRIC, COHERENCE_KEY) for m in models]
    headers = [("Cosine similarity", m) for m in models] + [("Cosine similarity", "Real pairs")]
    paper_columns = ["Independent Gen.", "Multi-Output Gen."] if paper else []
    headers += [("XGeM (paper)", c) for c in paper_columns]
    rows = []
    for task in _JOINT_TASKS:
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


def generated_reports(run: dict, model: str, cache_root: Path | None = None) -> dict[str, str]:
    """study_id -> the report `model` generated in `run`, read back from the runner's generation cache.

    The cache folder is the one the run recorded, or the same key under `cache_root` (a moved or copied cache).
    """
    import csv as csv_module

    from xgem_bench.cache import GenerationCache, generation_folder
    from xgem_bench.tasks import Modality
    entry = run["models"][model]
    folder = (generation_folder(cache_root, model, entry["cache_key"]) if cache_root is not None
              else Path(entry["cache_folder"]))
    try:
        cache = GenerationCache.existing(folder)
    except FileNotFoundError:
        raise FileNotFoundError(f"generation cache of {model} ({run['task']}) not found at {folder}; "
                                "pass the cache folder the run used") from None
    reports = {}
    with open(Path(run["run_dir"]) / "generation.csv", newline="") as handle:
        for row in csv_module.DictReader(handle):
            if row["model"] != model or row["status"] != "ok":
                continue
            outputs = cache.load(row["study_id"], int(row["seed"]))
            if outputs is None:
                raise FileNotFoundError(f"{folder} lacks the output of study {row['study_id']}")
            reports[row["study_id"]] = outputs[Modality.REPORT]
    return reports


def _build_intra_study(measured: Measurements, paper: dict, cache_root: Path | None) -> BuiltTable:
    """Table A2: per model, intra-study BLEU of its F->T and L->T reports of the same studies."""
    from xgem_bench.metrics.bleu import BLEU, intra_study_bleu
    from xgem_bench.text import TextNormalization

    layout = LAYOUTS["A2"]
    (panel,) = layout.panels
    rows = []
    for model in measured.models():
        runs = [measured.entries.get((task, model)) for task in INTRA_STUDY_TASKS]
        if not all(found and found[1].get("status") == "ok" for found in runs):
            rows.append(Row(model, model, "", "xgem-bench", [Cell(mark="-") for _ in panel.columns]))
            continue
        bleu_record = measured.record(INTRA_STUDY_TASKS[0], model, "bleu")
        settings = {**BLEU.default_settings(), **(bleu_record[1].get("settings", {}) if bleu_record else {})}
        try:
            generated = [generated_reports(run, measured.names[(task, model)], cache_root)
                         for task, (run, _) in zip(INTRA_STUDY_TASKS, runs)]
        except (FileNotFoundError, KeyError) as error:
            measured._note(f"{model}: no intra-study BLEU: {error}")
            rows.append(Row(model, model, "", "xgem-bench", [Cell(mark="n/a") for _ in panel.columns]))
            continue
        shared = [sid for sid in generated[0] if all(sid in g for g in generated[1:])]
        values = intra_study_bleu({sid: [g[sid] for g in generated] for sid in shared}, settings["convention"],
                                  settings["smoothing"], settings["max_n"], TextNormalization.from_settings(settings))
        measured._note(f"{model}: intra-study BLEU over {values['n_studies']} studies "
                       f"({values['n_skipped_studies']} without two non-empty reports), {settings['convention']}")
        rows.append(Row(model, model, "", "xgem-bench", [Cell(value=values.get(c.key)) for c in panel.columns]))
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


# ---- rendering ---------------------------------------------------------------------------------------------------
def render(table: BuiltTable, fmt: str, digits: int = 2) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    digits = digits if table.digits is None else table.digits
    return {"latex": _latex, "md": _markdown, "csv": _csv}[fmt](table, digits)


def _flagged(cell: Cell) -> bool:
    return (cell.value is not None and cell.low is not None and cell.high is not None
            and not cell.low <= cell.value <= cell.high)


def _number(cell: Cell, digits: int, ci_style: str = "bracket") -> str:
    if cell.value is None:
        return cell.mark or "-"

    def fixed(x: float) -> str:  # + 0.0: a rounded -0.001 prints 0.00, never -0.00
        return f"{round(x, digits) + 0.0:.{digits}f}"

    text = fixed(cell.value)
    if cell.low is None or cell.high is None or not (math.isfinite(cell.low) and math.isfinite(cell.high)):
        return text
    if _flagged(cell):  # never a ± around a value outside its own interval
        return text + f" [{fixed(cell.low)}, {fixed(cell.high)}]{INTERVAL_FLAG}"
    if ci_style == "pm":
        return text + f" ± {fixed((cell.high - cell.low) / 2)}"
    return text + f" [{fixed(cell.low)}, {fixed(cell.high)}]"


def _row_labels(panel: BuiltPanel, row: Row) -> list[str]:
    if panel.grouped:
        return [row.task, row.label]
    return [row.label]


def _markdown(table: BuiltTable, digits: int) -> str:
    out = [f"**Table {table.number}.** {table.caption}", ""]
    for panel in table.panels:
        if panel.title:
            out += [f"*{panel.title}*", ""]
        heads = panel.row_head + [f"{g} {l}".strip() for g, l in panel.headers]
        out.append("| " + " | ".join(heads) + " |")
        out.append("|" + "|".join([":--"] * len(panel.row_head) + ["--:"] * len(panel.headers)) + "|")
        for row in panel.rows:
            cells = [(f"**{_number(c, digits, table.ci_style)}**" if c.bold else _number(c, digits, table.ci_style))
                     for c in row.cells]
            labels = [f"*{x}*" if row.source == "paper" else x for x in _row_labels(panel, row)]
            out.append("| " + " | ".join(labels + cells) + " |")
        out.append("")
    out += [f"- {note}" + (f": {table.details[note]}" if note in table.details else "") for note in table.notes]
    return "\n".join(out).rstrip() + "\n"


def _csv(table: BuiltTable, digits: int) -> str:
    """Long format, full precision: one line per cell."""
    import csv
    import io
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["table", "panel", "task", "model", "source", "group", "column", "value", "ci_low", "ci_high",
                     "mark", "bold", "n", "dataset", "ci_method", "ci_estimate", "ci_contains_value"])
    for panel in table.panels:
        for row in panel.rows:
            for (group, label), cell in zip(panel.headers, row.cells):
                writer.writerow([table.number, panel.title, row.task or group, row.model, row.source, group, label,
                                 "" if cell.value is None else repr(cell.value),
                                 "" if cell.low is None else repr(cell.low), "" if cell.high is None else repr(cell.high),
                                 cell.mark, int(cell.bold), "" if cell.n is None else cell.n,
                                 table.dataset if row.source == "xgem-bench" else "XGeM paper",
                                 cell.ci_method or "", "" if cell.ci_estimate is None else repr(cell.ci_estimate),
                                 "" if cell.low is None else int(not _flagged(cell))])
    return buffer.getvalue()


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  # braced, so a note line starting with "[" is not read as the optional argument of \\
                  "[": "{[}", "]": "{]}"}


def latex_escape(text: str) -> str:
    escaped = "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)
    return escaped.replace("->", r"$\rightarrow$").replace("±", r"$\pm$").replace(INTERVAL_FLAG, r"$^\dagger$")


def _latex(table: BuiltTable, digits: int) -> str:
    # LaTeX numbers the table itself ("Table 1: ..."): the caption carries the text only, the label the paper number.
    # Wide tables shrink to \linewidth; narrow ones keep their natural size.
    out = ["% xgem-bench table; needs \\usepackage{booktabs,graphicx}", r"\begin{table}[t]", r"\centering", r"\small",
           f"\\caption{{{latex_escape(table.caption)}}}", f"\\label{{tab:xgem-{table.number.lower()}}}"]
    for index, panel in enumerate(table.panels):
        n_heads = len(panel.row_head)
        if index:
            out.append(r"\par\medskip")
        out.append(r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%")
        out.append(r"\begin{tabular}{" + "l" * n_heads + "r" * len(panel.headers) + "}")
        out.append(r"\toprule")
        if panel.title:
            out.append(f"\\multicolumn{{{n_heads + len(panel.headers)}}}{{l}}{{\\textbf{{{latex_escape(panel.title)}}}}}"
                       r" \\")
            out.append(r"\midrule")
        spans = _spans([g for g, _ in panel.headers])
        if any(g for g, _, _ in spans):
            line, rules = [""] * n_heads, []
            for group, start, width in spans:
                line.append(f"\\multicolumn{{{width}}}{{c}}{{{latex_escape(group)}}}" if width > 1 else latex_escape(group))
                if group:
                    rules.append(f"\\cmidrule(lr){{{n_heads + start + 1}-{n_heads + start + width}}}")
            out.append(" & ".join(line) + r" \\")
            out.append(" ".join(rules))
        out.append(" & ".join([latex_escape(h) for h in panel.row_head] + [latex_escape(l) for _, l in panel.headers])
                   + r" \\")
        out.append(r"\midrule")
        previous = None
        for row in panel.rows:
            if panel.grouped and previous is not None and row.task != previous:
                out.append(r"\midrule")
            labels = [latex_escape(x) for x in _row_labels(panel, row)]
            if panel.grouped and row.task == previous:
                labels[0] = ""
            previous = row.task
            cells = [latex_escape(_number(c, digits, table.ci_style)) for c in row.cells]
            cells = [f"\\textbf{{{c}}}" if cell.bold else c for c, cell in zip(cells, row.cells)]
            if row.source == "paper":
                labels = [f"\\textit{{{x}}}" if x else x for x in labels]
                cells = [f"\\textit{{{c}}}" for c in cells]
            out.append(" & ".join(labels + cells) + r" \\")
        out.append(r"\bottomrule")
        out.append(r"\end{tabular}}")
    if table.notes:
        out.append(r"\par\smallskip\footnotesize")
        out.append(r" \\ ".join(latex_escape(n) for n in table.notes))
    out.append(r"\end{table}")
    return "\n".join(out) + "\n"


def _spans(groups: list[str]) -> list[tuple[str, int, int]]:
    """Consecutive equal group names -> (group, first column, width)."""
    spans: list[tuple[str, int, int]] = []
    for i, group in enumerate(groups):
        if spans and spans[-1][0] == group:
            spans[-1] = (group, spans[-1][1], spans[-1][2] + 1)
        else:
            spans.append((group, i, 1))
    return spans


class _CallableModule(types.ModuleType):
    """`xgem_bench.tables` is both this module and the API function `xgem_bench.api.tables`: importing a submodule
    sets the package attribute of the same name to the module, so the module itself answers the call."""

    def __call__(self, *args, **kwargs) -> str:
        from xgem_bench.api import tables
        return tables(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
