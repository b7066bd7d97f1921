"""Rendering of built tables: LaTeX, Markdown and long-format CSV (full precision, one line per cell).

`BuiltTable` is what `xgem_bench.tables.build_table` produces; rendering changes no number, only how it is shown:
`digits` decimals, intervals as [low, high] or ± half-width, bold best values, flagged intervals that miss their value.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field

from xgem_bench.measurements import Cell

FORMATS = ("latex", "md", "csv")
CI_STYLES = ("bracket", "pm")
INTERVAL_FLAG = "†"


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



def render(table: BuiltTable, fmt: str, digits: int = 2) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    digits = digits if table.digits is None else table.digits
    return {"latex": _latex, "md": _markdown, "csv": _csv}[fmt](table, digits)


def flagged(cell: Cell) -> bool:
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
    if flagged(cell):  # never a ± around a value outside its own interval
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
                                 "" if cell.low is None else int(not flagged(cell))])
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

