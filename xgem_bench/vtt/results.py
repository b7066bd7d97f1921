"""`vtt results`: Table A3 (mean ± sd per task and data type), a mixed-effects test of real vs synthetic per task,
Krippendorff's alpha between raters, and the radar chart of Figure 6. Reads the answer key: organiser side only.

Settings that change numbers, recorded in stats.json: sd with ddof=1 over all ratings of a cell (as Table A3 pools
the three radiologists); the test is `score ~ synthetic + C(rater)` with a random intercept per item (statsmodels
MixedLM, REML; items are the sampled units, every rater rates every item), its p-value from t with items - 2
degrees of freedom; alpha at the ordinal level (the 1-5 scale
is ordered, its steps need not be equal).
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xgem_bench.vtt.paper import PAPER_SOURCE, PAPER_TABLE_A3
from xgem_bench.vtt.protocol import TASKS_BY_ID
from xgem_bench.vtt.store import connect, read_meta

SD_DDOF = 1
ALPHA_LEVEL = "ordinal"
TEST_FORMULA = ("score ~ synthetic + C(rater), random intercept per item (MixedLM, REML); p from t with "
                "items - 2 degrees of freedom")


def load_ratings(session: str | Path):
    """One row per saved rating: rater, item_id, task, truth (real | synthetic), model, score."""
    import pandas as pd
    connection = connect(session)
    try:
        frame = pd.read_sql_query(
            "SELECT r.rater_id AS rater, r.item_id, i.task, k.truth, k.model, r.score FROM ratings r "
            "JOIN items i USING (item_id) JOIN answer_key k USING (item_id) ORDER BY r.rater_id, r.item_id",
            connection)
    finally:
        connection.close()
    frame["model"] = frame["model"].fillna("")
    return frame


@dataclass(frozen=True)
class Row:
    task: str
    truth: str
    model: str  # "" for real items and for all synthetic items pooled
    n_items: int
    n_ratings: int
    mean: float | None
    sd: float | None

    def label(self) -> str:
        noun = TASKS_BY_ID[self.task].data_type
        name = f"{self.truth.capitalize()} {noun}"
        return f"{name} ({self.model})" if self.model else name


def table_rows(ratings, tasks: list[str]) -> list[Row]:
    """Real, then synthetic pooled, then (with several models) each model, per task in session order."""
    rows = []
    for task in tasks:
        of_task = ratings[ratings["task"] == task]
        models = sorted(set(of_task.loc[of_task["truth"] == "synthetic", "model"]))
        groups = [("real", "", of_task[of_task["truth"] == "real"]),
                  ("synthetic", "", of_task[of_task["truth"] == "synthetic"])]
        if len(models) > 1:
            groups += [("synthetic", m, of_task[of_task["model"] == m]) for m in models]
        for truth, model, group in groups:
            scores = group["score"].to_numpy(dtype=float)
            rows.append(Row(task, truth, model, group["item_id"].nunique(), len(scores),
                            float(scores.mean()) if len(scores) else None,
                            float(scores.std(ddof=SD_DDOF)) if len(scores) > SD_DDOF else None))
    return rows


def real_vs_synthetic(ratings, task: str) -> dict:
    """Synthetic minus real, from the mixed model; with `reason` instead when it cannot be fitted."""
    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    data = ratings[ratings["task"] == task].assign(synthetic=lambda f: (f["truth"] == "synthetic").astype(float))
    counts = data.groupby("truth")["item_id"].nunique()
    if counts.get("real", 0) < 2 or counts.get("synthetic", 0) < 2:
        return {"reason": "needs ratings of at least two real and two synthetic items"}
    if data["score"].nunique() < 2:
        return {"reason": "every rating is the same score: no variance to test"}
    formula = "score ~ synthetic + C(rater)" if data["rater"].nunique() > 1 else "score ~ synthetic"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = smf.mixedlm(formula, data, groups=data["item_id"]).fit(reml=True)
        except (ValueError, np.linalg.LinAlgError) as error:
            return {"reason": f"the mixed model could not be fitted: {error}"}
    notes = sorted({str(w.message) for w in caught if issubclass(w.category, (ConvergenceWarning, RuntimeWarning))})
    from scipy import stats
    n_items = int(data["item_id"].nunique())
    t = float(fit.tvalues["synthetic"])
    # the effect varies between items: t on items - 2 degrees of freedom (exactly the two-sample t-test of the
    # item means when every rater rated every item), not MixedLM's normal p-value, which is too small with 20 items
    result = {"estimate": float(fit.params["synthetic"]), "se": float(fit.bse["synthetic"]), "t": t,
              "df": n_items - 2, "p": float(2 * stats.t.sf(abs(t), n_items - 2)),
              "item_variance": float(fit.cov_re.iloc[0, 0]), "residual_variance": float(fit.scale),
              "n_ratings": int(len(data)), "n_items": n_items,
              "n_raters": int(data["rater"].nunique())}
    if notes:
        result["warnings"] = notes
    return result


def agreement(ratings, task: str | None = None) -> dict:
    """Krippendorff's alpha (ordinal) over raters x items; items a rater skipped are missing values."""
    import krippendorff

    data = ratings if task is None else ratings[ratings["task"] == task]
    matrix = data.pivot_table(index="rater", columns="item_id", values="score", aggfunc="first")
    if matrix.shape[0] < 2:
        return {"reason": "needs ratings from at least two raters"}
    values = matrix.to_numpy(dtype=float)
    if len(np.unique(values[~np.isnan(values)])) < 2:
        return {"reason": "every rating is the same score: alpha is undefined"}
    pairable = int((np.sum(~np.isnan(values), axis=0) >= 2).sum())
    alpha = krippendorff.alpha(reliability_data=values, level_of_measurement=ALPHA_LEVEL)
    return {"alpha": float(alpha), "level": ALPHA_LEVEL, "n_raters": int(values.shape[0]),
            "n_items_rated_twice": pairable}


def summarize(session: str | Path) -> dict:
    """Everything `vtt results` reports, as one JSON-ready dict."""
    from importlib import metadata

    connection = connect(session)
    try:
        meta = read_meta(connection)
        raters = connection.execute(
            "SELECT r.label, COUNT(s.item_id), (SELECT COUNT(*) FROM assignments a WHERE a.rater_id = r.rater_id) "
            "FROM raters r LEFT JOIN ratings s USING (rater_id) GROUP BY r.rater_id ORDER BY r.rater_id").fetchall()
    finally:
        connection.close()
    ratings = load_ratings(session)
    tasks = meta["tasks"]
    return {
        "session": {k: meta[k] for k in ("created", "seed", "items_per_task", "tasks", "models", "runs", "dataset")},
        "raters": [{"rater": label, "rated": rated, "items": total} for label, rated, total in raters],
        "settings": {"sd_ddof": SD_DDOF, "test": TEST_FORMULA, "agreement": f"Krippendorff's alpha, {ALPHA_LEVEL}",
                     "packages": {p: _version(metadata, p) for p in ("statsmodels", "krippendorff", "pandas")}},
        "table": [row.__dict__ | {"label": row.label()} for row in table_rows(ratings, tasks)],
        "tests": {task: real_vs_synthetic(ratings, task) for task in tasks},
        "agreement": {"all": agreement(ratings), **{task: agreement(ratings, task) for task in tasks}},
    }


def _version(metadata, package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _cell(mean: float | None, sd: float | None, pm: str) -> str:
    if mean is None:
        return "-"
    return f"{mean:.1f} {pm} {sd:.1f}" if sd is not None else f"{mean:.1f}"


def render_table(summary: dict, fmt: str = "md", with_paper: bool = False) -> str:
    """Table A3 as Markdown, LaTeX or CSV (CSV keeps full precision and the counts)."""
    rows = summary["table"]
    tests = summary["tests"]
    if fmt == "csv":
        import csv
        import io
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        header = ["task", "task_title", "data_type", "truth", "model", "n_items", "n_ratings", "mean", "sd"]
        writer.writerow(header + (["paper_mean", "paper_sd"] if with_paper else []))
        for row in rows:
            paper = PAPER_TABLE_A3.get((row["task"], row["truth"])) if not row["model"] else None
            writer.writerow([row["task"], TASKS_BY_ID[row["task"]].title, row["label"], row["truth"], row["model"],
                             row["n_items"], row["n_ratings"], row["mean"], row["sd"]]
                            + ([*(paper or ("", ""))] if with_paper else []))
        return buffer.getvalue()
    if fmt not in ("md", "latex"):
        raise ValueError(f"unknown format {fmt!r}; use md, latex or csv")
    pm = "±" if fmt == "md" else "$\\pm$"
    header = ["Task", "Data Type", "Score", "n (items / ratings)", "Synthetic - real (p)"]
    if with_paper:
        header.insert(3, "Paper")
    body = []
    for row in rows:
        first = row is next(r for r in rows if r["task"] == row["task"])
        test = tests.get(row["task"], {})
        cells = [TASKS_BY_ID[row["task"]].title if first else "", row["label"], _cell(row["mean"], row["sd"], pm),
                 f"{row['n_items']} / {row['n_ratings']}",
                 (f"{test['estimate']:+.2f} (p = {test['p']:.3g})" if "p" in test else "n/a") if first else ""]
        if with_paper:
            paper = PAPER_TABLE_A3.get((row["task"], row["truth"])) if not row["model"] else None
            cells.insert(3, _cell(*paper, pm) if paper else "-")
        body.append(cells)
    note = ("Mean ± sd of 1-5 ratings (sd over all ratings of a cell, ddof=1); synthetic - real: fixed effect of a "
            "mixed model with raters as fixed and items as random effects.")
    if with_paper:
        note += f" Paper: {PAPER_SOURCE}."
    if fmt == "md":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines) + f"\n\n{note}\n"
    escape = str.maketrans({"&": "\\&", "%": "\\%", "_": "\\_", "#": "\\#"})
    lines = ["\\begin{table}[t]", "\\centering", "\\begin{tabular}{ll" + "c" * (len(header) - 2) + "}", "\\hline",
             " & ".join(header).translate(escape).replace("±", "$\\pm$") + " \\\\", "\\hline"]
    for cells in body:
        if cells[0] and lines[-1] != "\\hline":
            lines.append("\\hline")
        lines.append(" & ".join(c.translate(escape) for c in cells) + " \\\\")
    lines += ["\\hline", "\\end{tabular}", f"\\caption{{Visual Turing Test. {note.translate(escape)}}}".replace(
        "±", "$\\pm$"), "\\end{table}"]
    return "\n".join(lines) + "\n"


def write_results(session: str | Path, out: str | Path, formats: tuple[str, ...] = ("png", "pdf"),
                  with_paper: bool = False) -> tuple[dict, list[Path]]:
    """Write table_a3.{md,tex,csv}, stats.json and the radar chart under `out` (atomically); returns the summary
    (see `summarize`) and the paths written."""
    from xgem_bench.atomic import atomic_write_text
    from xgem_bench.vtt.radar import write_radar

    summary = summarize(session)
    out = Path(out)
    written = []
    for fmt, suffix in (("md", "md"), ("latex", "tex"), ("csv", "csv")):
        path = out / f"table_a3.{suffix}"
        atomic_write_text(path, render_table(summary, fmt, with_paper))
        written.append(path)
    atomic_write_text(out / "stats.json", json.dumps(summary, indent=2))
    written.append(out / "stats.json")
    written += write_radar(summary, out / "radar", formats, with_paper)
    return summary, written
