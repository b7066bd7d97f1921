"""The radar chart of Figure 6: mean rating per VTT task, real against synthetic (and the paper's, with_paper)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from xgem_bench.vtt.paper import PAPER_TABLE_A3
from xgem_bench.vtt.protocol import TASKS_BY_ID


def radar_series(summary: dict, with_paper: bool = False) -> dict[str, list[float]]:
    """Series name -> mean per task (in session order; NaN where a cell has no rating)."""
    tasks = summary["session"]["tasks"]
    series: dict[str, list[float]] = {}
    for row in summary["table"]:
        name = row["truth"].capitalize() + (f" ({row['model']})" if row["model"] else "")
        series.setdefault(name, [np.nan] * len(tasks))[tasks.index(row["task"])] = (
            np.nan if row["mean"] is None else row["mean"])
    if with_paper:
        for truth in ("real", "synthetic"):
            series[f"Paper: {truth} (XGeM)"] = [PAPER_TABLE_A3[(t, truth)][0] for t in tasks]
    return series


def write_radar(summary: dict, stem: Path, formats: tuple[str, ...] = ("png", "pdf"), with_paper: bool = False
                ) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from xgem_bench.atomic import atomic_write_bytes

    unknown = set(formats) - {"png", "pdf"}
    if unknown:
        raise ValueError(f"unknown figure format(s) {sorted(unknown)}; use png and/or pdf")
    tasks = summary["session"]["tasks"]
    angles = np.linspace(0, 2 * np.pi, len(tasks), endpoint=False)
    closed = np.append(angles, angles[0])
    figure, axes = plt.subplots(figsize=(6.5, 6), subplot_kw={"polar": True})
    for name, values in radar_series(summary, with_paper).items():
        style = "--" if name.startswith("Paper") else "-"
        line = axes.plot(closed, np.append(values, values[0]), style, marker="o", label=name)[0]
        if style == "-":
            axes.fill(closed, np.append(values, values[0]), alpha=0.1, color=line.get_color())
    axes.set_xticks(angles)
    axes.set_xticklabels([TASKS_BY_ID[t].radar_label for t in tasks])
    axes.set_ylim(0, 5)
    axes.set_yticks([1, 2, 3, 4, 5])
    axes.set_title("Visual Turing Test: mean rating (1-5)")
    axes.legend(loc="upper right", bbox_to_anchor=(1.3, 1.1), fontsize="small")
    written = []
    for fmt in formats:
        buffer = io.BytesIO()
        figure.savefig(buffer, format=fmt, bbox_inches="tight", dpi=150)
        path = stem.with_suffix(f".{fmt}")
        atomic_write_bytes(path, buffer.getvalue())
        written.append(path)
    plt.close(figure)
    return written
