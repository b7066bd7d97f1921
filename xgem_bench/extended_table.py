"""The extended table (`tables --table extended`): the metrics beyond the paper's protocol, beside its tables.

One declarative list, `EXTENDED_COLUMNS`: a metric value joins the table by adding a line (panel, column label,
metric, value key). Each panel groups its rows by the tasks whose outputs its metrics score. Columns of metrics that
no given run recorded are left out and named in a note, so the table shows what was measured without a wall of n/a.
"""
from __future__ import annotations

from typing import Sequence

from xgem_bench.table_layouts import Column, Layout, Panel

EXTENDED_TABLE = "EXTENDED"

#: (panel, column label, metric, value key); one line per value
EXTENDED_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("Images", "KID", "kid-inception", "kid"),
    ("Images", "Prec.", "prdc-inception", "precision"),
    ("Images", "Rec.", "prdc-inception", "recall"),
    ("Images", "Dens.", "prdc-inception", "density"),
    ("Images", "Cov.", "prdc-inception", "coverage"),
    ("Images", "FD∞", "fd-infinity-inception", "fd_infinity"),
    ("Images", "CMMD", "cmmd-clip", "cmmd"),
    ("Images", "Memorised", "memorisation-image", "above_threshold"),
    ("Images", "NN sim.", "memorisation-image", "nn_similarity"),
    ("Reports", "Copies", "memorisation-report", "exact_copy"),
    ("Reports", "4-gram overlap", "memorisation-report", "ngram_overlap"),
    ("Reports", "Near copies", "memorisation-report", "near_copy"),
    ("Reports", "ROUGE-1", "rouge", "rouge1"),
    ("Reports", "ROUGE-2", "rouge", "rouge2"),
    ("Reports", "ROUGE-L", "rouge", "rougeL"),
    ("Reports", "METEOR", "meteor", "meteor"),
    ("Reports", "CIDEr-D", "cider", "cider"),
)

#: the tasks whose rows each panel shows (every task with an output of the panel's kind)
PANEL_TASKS: dict[str, tuple[str, ...]] = {
    "Reports": ("F->T", "L->T", "F+L->T", "L->F+T", "F->L+T"),
    "Images": ("T->F", "L->F", "L+T->F", "T->L", "F->L", "F+T->L", "T->F+L", "L->F+T", "F->L+T"),
}

CAPTION = ("Metrics beyond the paper's protocol (the paper reports none of them); each value is the metric's mean "
           "or set-level value over the studies of the run.")


def recorded_metrics(runs: Sequence[dict]) -> set[str]:
    """Metrics that any model of the runs recorded (whatever their status)."""
    return {record["metric"] for run in runs for entry in run["models"].values()
            for record in entry.get("metrics", {}).values()}


def extended_layout(runs: Sequence[dict]) -> tuple[Layout, list[str]]:
    """The layout restricted to the metrics the runs recorded, and a note naming the columns left out."""
    recorded = recorded_metrics(runs)
    panels, left_out = [], []
    for title, tasks in PANEL_TASKS.items():
        columns = tuple(Column(label, metric, key) for panel, label, metric, key in EXTENDED_COLUMNS
                        if panel == title and metric in recorded)
        left_out += [label for panel, label, metric, _ in EXTENDED_COLUMNS if panel == title and metric not in recorded]
        if columns:
            panels.append(Panel(title, columns, tasks))
    notes = [f"Not recorded by these runs (columns left out): {', '.join(left_out)}."] if left_out else []
    return Layout(EXTENDED_TABLE, CAPTION, tuple(panels)), notes
