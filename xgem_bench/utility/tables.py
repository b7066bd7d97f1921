"""Tables 8-11 and A4-A6 in the paper's layouts, from a finished utility run (`utility.json`), optionally with the
paper's published values as extra rows (`with_paper`) and the bootstrap intervals (`ci`).

A cell is the mean over seeds, `± sd` when there were several seeds, and `[low, high]` (the percentile-bootstrap
interval over test studies of that mean) with `ci`. Table 9 (the share of positives per class, before and after
balancing) comes with the imbalance experiment.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Sequence

from xgem_bench.utility.paper import PAPER, PAPER_TABLE9, TABLE_NUMBERS

AVERAGE_COLUMNS = [("auc_micro", "AUROC micro"), ("auc_macro", "AUROC macro"), ("auc_weighted", "AUROC weighted"),
                   ("f1_micro", "F1 micro"), ("f1_macro", "F1 macro"), ("f1_weighted", "F1 weighted")]
SHORT = {"Atelectasis": "Atl.", "Cardiomegaly": "Cmgl.", "Consolidation": "Cnsl.", "Edema": "Edm.",
         "Pleural Effusion": "Eff.", "Enlarged Cardiomediastinum": "ECm.", "Lung Lesion": "LLe.",
         "Lung Opacity": "LOp.", "Pneumonia": "Pna.", "Pneumothorax": "Ptx."}
ARM_LABELS = {"real": "Real", "synthetic": "Synthetic", "real+synthetic": "Real + Synthetic"}
FORMATS = ("md", "latex", "csv")
#: the tables `xgem-bench tables --table N` builds from utility runs (9: positives per class of imbalance runs)
UTILITY_TABLES = ("8", "9", "10", "11", "A4", "A5", "A6")


def columns_of(run: dict) -> list[tuple[str, str]]:
    if run["experiment"] == "imbalance":
        return ([(f"f1/{c}", f"F1 {SHORT.get(c, c)}") for c in run["classes"]]
                + [(k, label) for k, label in AVERAGE_COLUMNS if k.startswith("f1")])
    if run["experiment"] == "scarcity":
        return [("n_real", "Real"), ("n_synthetic", "Synthetic"), ("n_total", "Total")] + AVERAGE_COLUMNS
    return AVERAGE_COLUMNS


def _cell(arm: dict, key: str, digits: int, ci: bool) -> str:
    if key in ("n_real", "n_synthetic", "n_total"):
        return str(arm["n_real"] + arm["n_synthetic"] if key == "n_total" else arm[key])
    mean, sd = arm["mean"].get(key, math.nan), arm["sd"].get(key, math.nan)
    if mean is None or math.isnan(mean):
        return "-"
    text = f"{mean:.{digits}f}"
    if sd is not None and not math.isnan(sd):
        text += f" ± {sd:.{digits}f}"
    if ci:
        low, high = arm["interval"][key]
        text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    return text


def _paper_cell(values: dict, key: str, digits: int) -> str:
    if key == "n_total":
        return str(values["n_real"] + values["n_synthetic"])
    if key in values:
        return str(values[key]) if key.startswith("n_") else f"{values[key]:.{digits}f}"
    return "-"


def paper_rows(run: dict, digits: int = 2) -> list[list[str]]:
    """The paper's rows of the run's table, in its columns."""
    return [[f"{label} (paper)"] + [_paper_cell(values, key, digits) for key, _ in columns_of(run)]
            for label, values in PAPER[(run["experiment"], run["view"])]]


def table_rows(run: dict, with_paper: bool = False, digits: int = 2, ci: bool = False
               ) -> tuple[str, list[str], list[list[str]]]:
    """(title, header, rows) of the run's table."""
    number = TABLE_NUMBERS[(run["experiment"], run["view"])]
    columns = columns_of(run)
    rows = [[ARM_LABELS.get(name, name)] + [_cell(arm, key, digits, ci) for key, _ in columns]
            for name, arm in run["arms"].items()]
    if with_paper:
        rows += paper_rows(run, digits)
    source = run["synthetic_source"]["source"]
    title = (f"Table {number}: {run['experiment']} ({'frontal' if run['view'] == 'F' else 'lateral'}), synthetic "
             f"source {source}, dataset {run['dataset']['name']}, {run['config']['seeds']} seed(s), "
             f"{run['dataset']['n_test']} test studies")
    if run["dataset"].get("synthetic"):
        title += " (synthetic demo data: tests the pipeline, says nothing about patients)"
    return title, ["Training data"] + [label for _, label in columns], rows


def table9_rows(run: dict, with_paper: bool = False) -> tuple[str, list[str], list[list[str]]]:
    """Share of positives per class: the real training split, the balanced set (and the paper's Table 9)."""
    if run["experiment"] != "imbalance":
        raise ValueError("Table 9 (positives per class) belongs to the imbalance experiment")
    header = ["Condition", "Real positive (%)", "Real + Synthetic positive (%)"] + (["Paper (%)"] if with_paper else [])
    rows = []
    for c in run["classes"]:
        row = [c] + [f"{100 * run['arms'][arm]['positives'][c]['share']:.1f}% "
                     f"({run['arms'][arm]['positives'][c]['n_pos']})" for arm in ("real", "real+synthetic")]
        if with_paper:
            row.append(f"{100 * PAPER_TABLE9[c]:.3g}%" if c in PAPER_TABLE9 else "-")
        rows.append(row)
    return "Table 9: positives per class in the training set", header, rows


def render(title: str, header: list[str], rows: list[list[str]], fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows(rows)
        return buffer.getvalue()
    if fmt == "latex":
        escape = lambda text: text.replace("%", r"\%").replace("±", r"$\pm$").replace("&", r"\&")  # noqa: E731
        lines = [r"\begin{table}", rf"\caption{{{escape(title)}}}",
                 r"\begin{tabular}{l" + "c" * (len(header) - 1) + "}",
                 r"\toprule", " & ".join(map(escape, header)) + r" \\", r"\midrule"]
        lines += [" & ".join(map(escape, row)) + r" \\" for row in rows]
        return "\n".join(lines + [r"\bottomrule", r"\end{tabular}", r"\end{table}"]) + "\n"
    lines = [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def utility_table(run: dict[str, Any], fmt: str = "md", with_paper: bool = False, digits: int = 2, ci: bool = False,
                  table: str | None = None) -> str:
    """The run's paper table (`table` None), or Table 9 (`table="9"`, imbalance runs)."""
    if table in (None, TABLE_NUMBERS[(run["experiment"], run["view"])]):
        return render(*table_rows(run, with_paper, digits, ci), fmt)
    if table == "9":
        return render(*table9_rows(run, with_paper), fmt)
    raise ValueError(f"a {run['experiment']} run ({run['view']}) gives Table "
                     f"{TABLE_NUMBERS[(run['experiment'], run['view'])]}"
                     + (" or 9" if run["experiment"] == "imbalance" else "") + f", not {table}")


def tables_text(runs: Sequence[str | Path | dict], table: str, fmt: str = "md", with_paper: bool = False,
                digits: int = 2, ci: bool = False, root: str | Path = "results") -> str:
    """`xgem-bench tables --table 8|9|10|11|A4|A5|A6` over stored utility runs (folders, run ids under `root`, or
    loaded utility.json): the runs' rows in one table, each labelled with its synthetic source when there are several
    (e.g. the oracle's and a model's run of the same experiment), the paper's rows once with `with_paper`."""
    from xgem_bench.utility.experiments import load_utility_run

    table = table.upper()
    if table not in UTILITY_TABLES:
        raise ValueError(f"utility tables are {', '.join(UTILITY_TABLES)}, not {table!r}")
    try:
        loaded = [run if isinstance(run, dict) else load_utility_run(run, root) for run in runs]
    except FileNotFoundError as error:
        raise FileNotFoundError(f"Table {table} is built from utility runs (`xgem-bench utility ...`): {error}") \
            from None
    if not loaded:
        raise ValueError(f"Table {table} needs at least one utility run (`xgem-bench utility ...`)")
    wrong = [run["run_id"] for run in loaded if not (
        run["experiment"] == "imbalance" if table == "9" else TABLE_NUMBERS[(run["experiment"], run["view"])] == table)]
    if wrong:
        wanted = "imbalance" if table == "9" else next(f"{e} ({'frontal' if v == 'F' else 'lateral'})"
                                                        for (e, v), n in TABLE_NUMBERS.items() if n == table)
        raise ValueError(f"Table {table} is built from {wanted} utility runs; {', '.join(wrong)} "
                         "is another experiment or view (`xgem-bench results list` shows each run's)")
    build = (lambda run: table9_rows(run, with_paper)) if table == "9" else \
        (lambda run: table_rows(run, False, digits, ci))
    built = [build(run) for run in loaded]
    header = built[0][1]
    if any(b[1] != header for b in built):
        raise ValueError(f"the runs of Table {table} have different classes or columns; give runs of the same "
                         "--classes")
    several = len(loaded) > 1
    rows = [[f"{row[0]} ({run['synthetic_source']['source']}, {run['run_id']})" if several else row[0]] + row[1:]
            for run, (_, _, run_rows) in zip(loaded, built) for row in run_rows]
    if with_paper and table != "9":  # Table 9's paper column is in every row already
        rows += paper_rows(loaded[0], digits)
    title = built[0][0]
    if several:
        title = (f"Table {table}: {loaded[0]['experiment']} ({'frontal' if loaded[0]['view'] == 'F' else 'lateral'}), "
                 f"{len(loaded)} runs (synthetic sources "
                 f"{', '.join(run['synthetic_source']['source'] for run in loaded)}), seeds "
                 f"{', '.join(str(run['config']['seeds']) for run in loaded)}")
        if any(run["dataset"].get("synthetic") for run in loaded):
            title += " (synthetic demo data: tests the pipeline, says nothing about patients)"
    return render(title, header, rows, fmt)
