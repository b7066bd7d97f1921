"""Figures from finished runs (matplotlib, Agg backend; every figure as PNG and PDF).

- `hamming_distributions`: paper Figure 5, the distribution of Hamming distances between the labels of the generated
  frontal X-ray and of the generated report, one curve per model (e.g. joint vs independent generation), with the
  mean and the share at distance 0 in the legend.
- `per_pathology_bars`: per-class AUC / F1 (xrv-classification, chexpert-f1), grouped bars, one figure per task and score.
- `metric_summaries`: each metric's primary value across the tasks of the runs, one line per model.
With `ci` (bootstrap settings, as `tables --ci`), bars and points carry their interval over studies as a vertical
segment; FID's intervals are centred on its bias-corrected estimate, so they may not contain the plotted value.
Figures read the results store only, as tables do.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from xgem_bench.data.study import PAPER_PATHOLOGIES
from xgem_bench.measurements import Measurements, dataset_descriptions
from xgem_bench.tasks import PAPER_TASKS

FORMATS = ("png", "pdf")
_CLASS_METRICS = {"xrv-classification": ("auc", "f1"), "chexpert-f1": ("f1",)}


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _finish(figure, axis, title: str, ylabel: str, out: Path, stem: str, formats: Sequence[str],
            caption: str = "", higher_is_better: bool | None = None) -> list[Path]:
    axis.set_title(title)
    if higher_is_better is not None:
        ylabel += " (higher is better)" if higher_is_better else " (lower is better)"
    axis.set_ylabel(ylabel)
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    if caption:  # below the axes; bbox_inches="tight" keeps it in the file
        figure.text(0.0, -0.02, caption, fontsize=7, ha="left", va="top", wrap=True)
    return _save(figure, out, stem, formats)


def figure_caption(measured: Measurements, counts: Sequence[int | None]) -> str:
    """What every figure says under its axes: the data, n per point, and the caveats (as tables do)."""
    parts = [f"Dataset: {', '.join(dataset_descriptions(measured))}."]
    known = sorted({n for n in counts if n is not None})
    if known:
        parts.append(f"n = {known[0]} studies per point." if len(known) == 1 else
                     f"n = {known[0]} to {known[-1]} studies per point.")
    if any(r["dataset"].get("synthetic") for r in measured.runs):
        parts.append("Synthetic data: tests the pipeline, says nothing about patients.")
    return " ".join(parts)


def _draw_interval(axis, measured: Measurements, ci: dict | None, x: float, task: str, model: str, metric: str,
                   key: str, color) -> bool:
    """A vertical segment from the interval's low to its high end at x; False when there is none."""
    interval = measured.interval(task, model, metric, key, ci) if ci else None
    if interval is None or not (np.isfinite(interval.low) and np.isfinite(interval.high)):
        return False
    axis.vlines(x, interval.low, interval.high, colors=[color], linewidth=1.2)
    return True


def _interval_caption(ci: dict | None, drawn: bool) -> str:
    if not drawn:
        return ""
    return (f" Vertical segments: {ci['level']:.0%} intervals over studies ({ci['n_resamples']} resamples, seed "
            f"{ci['seed']}; FID's are centred on its bias-corrected estimate and may not contain the point).")


def _n(measured: Measurements, task: str, model: str) -> int | None:
    return measured.entries[(task, model)][1].get("n_generated")


def _save(figure, out: Path, stem: str, formats: Sequence[str]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9._+-]", "_", stem.replace("->", "-to-"))
    paths = []
    for fmt in formats:
        path = out / f"{stem}.{fmt}"
        figure.savefig(path, dpi=150, bbox_inches="tight")
        paths.append(path)
    _pyplot().close(figure)
    return paths


def _ok_records(measured: Measurements, metric: str | None = None):
    """(task, model, record) of every successful record (of `metric`, or of every metric)."""
    for (task, model), (_, entry) in measured.entries.items():
        if entry.get("status") != "ok":
            continue
        for record in entry.get("metrics", {}).values():
            if metric in (None, record["metric"]) and record.get("status") == "ok":
                yield task, model, record


def hamming_distributions(runs: Sequence[dict], out: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Figure 5: frequency of each Hamming distance per model, one figure per task."""
    measured = Measurements(runs)
    by_task: dict[str, list[tuple[str, dict]]] = {}
    for task, model, record in _ok_records(measured, "hamming"):
        by_task.setdefault(task, []).append((model, record["values"]))
    paths = []
    for task, curves in by_task.items():
        plt = _pyplot()
        figure, axis = plt.subplots(figsize=(5.5, 3.5))
        top = 0
        for model, values in curves:
            counts = np.array([values.get(f"count/{d}", 0.0) for d in range(len(PAPER_PATHOLOGIES) + 1)])
            top = max(top, int(np.flatnonzero(counts).max()) if counts.any() else 0)
            axis.plot(np.arange(len(counts)), counts, marker="o",
                      label=f"{model} (mean {values['hamming']:.2f}, at 0: {values['at_zero']:.0%})")
        axis.set_xlim(-0.3, max(top + 1, 3) + 0.3)
        axis.set_xlabel("Hamming distance (labels that differ between generated X-ray and report; lower is better)")
        paths += _finish(figure, axis, f"Clinical coherence, {task}", "studies", out, f"hamming-{task}", formats,
                         figure_caption(measured, [_n(measured, task, m) for m, _ in curves]))
    return paths


def per_pathology_bars(runs: Sequence[dict], out: Path, formats: Sequence[str] = FORMATS,
                       ci: dict | None = None) -> list[Path]:
    """Grouped bars of per-class scores, one figure per (metric, score, task); with `ci`, their intervals."""
    measured = Measurements(runs)
    paths = []
    for metric, scores in _CLASS_METRICS.items():
        by_task: dict[str, list[tuple[str, dict]]] = {}
        for task, model, record in _ok_records(measured, metric):
            by_task.setdefault(task, []).append((model, record["values"]))
        for task, bars in by_task.items():
            counts = [_n(measured, task, m) for m, _ in bars]
            for score in scores:
                labels = [label for label in PAPER_PATHOLOGIES + ("No Finding",)
                          if any(f"{score}/{label}" in values for _, values in bars)]
                if not labels:
                    continue
                plt = _pyplot()
                figure, axis = plt.subplots(figsize=(max(6.0, 0.7 * len(labels) * max(1, len(bars)) ** 0.5), 3.8))
                width = 0.8 / len(bars)
                x = np.arange(len(labels))
                drawn = False
                for i, (model, values) in enumerate(bars):
                    heights = np.array([values.get(f"{score}/{label}", np.nan) for label in labels], dtype=float)
                    positions = x + (i - (len(bars) - 1) / 2) * width
                    present = np.isfinite(heights)
                    axis.bar(positions[present], heights[present], width, label=model)
                    for position, label in zip(positions[present], np.array(labels)[present]):
                        drawn |= _draw_interval(axis, measured, ci, position, task, model, metric,
                                                f"{score}/{label}", "k")
                    for position in positions[~present]:  # no support for the class: marked, not drawn as 0
                        axis.text(position, 0.02, "n/a", rotation=90, ha="center", va="bottom", fontsize=6,
                                  color="0.4")
                axis.set_xticks(x, labels, rotation=35, ha="right", fontsize=8)
                axis.set_ylim(0, 1)
                note = (figure_caption(measured, counts) + " n/a: no study of the class (no value; not a 0)."
                        + _interval_caption(ci, drawn))
                paths += _finish(figure, axis, f"{metric} {score.upper()} per finding, {task}", score.upper(), out,
                                 f"{metric}-{score}-{task}", formats, note, True)
    return paths


def metric_summaries(runs: Sequence[dict], out: Path, formats: Sequence[str] = FORMATS,
                     ci: dict | None = None) -> list[Path]:
    """Each metric's primary value per task (paper task order), one line per model; one figure per metric/modality;
    with `ci`, each point's interval."""
    measured = Measurements(runs)
    order = {t.name: i for i, t in enumerate(PAPER_TASKS)}
    series: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
    counts: dict[tuple[str, str], list[int | None]] = {}
    higher: dict[tuple[str, str], bool | None] = {}
    for task, model, record in _ok_records(measured):
        primary = record.get("primary")
        value = record["values"].get(primary) if primary else None
        if value is None or not np.isfinite(value):
            continue
        key = (record["metric"], primary)
        series.setdefault(key, {}).setdefault(model, {})[task] = float(value)
        counts.setdefault(key, []).append(_n(measured, task, model))
        higher[key] = record.get("higher_is_better")
    paths = []
    for (metric, primary), models in series.items():
        tasks = sorted({t for values in models.values() for t in values}, key=lambda t: (order.get(t, 99), t))
        plt = _pyplot()
        figure, axis = plt.subplots(figsize=(max(4.5, 0.9 * len(tasks) + 2), 3.5))
        drawn = False
        for model, values in models.items():
            line, = axis.plot([tasks.index(t) for t in tasks if t in values], [values[t] for t in tasks if t in values],
                              marker="o", label=model)
            for t in values:
                drawn |= _draw_interval(axis, measured, ci, tasks.index(t), t, model, metric, primary,
                                        line.get_color())
        axis.set_xticks(range(len(tasks)), tasks)
        paths += _finish(figure, axis, f"{metric} by task", primary, out, f"summary-{metric}", formats,
                         figure_caption(measured, counts[(metric, primary)]) + _interval_caption(ci, drawn),
                         higher[(metric, primary)])
    return paths


def all_plots(runs: Sequence[dict], out: Path, formats: Sequence[str] = FORMATS,
              ci: dict | None = None) -> list[Path]:
    """Every figure the runs support; `ci`: None, or bootstrap settings {n_resamples, level, seed} for intervals."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown figure format(s) {unknown}; choose from {', '.join(FORMATS)}")
    return (hamming_distributions(runs, out, formats) + per_pathology_bars(runs, out, formats, ci)
            + metric_summaries(runs, out, formats, ci))
