"""Plain-text tables that fit the terminal: long reasons become numbered footnotes, long cells are cut with "…".

The width is `$COLUMNS` when set, else the terminal's, else 80 (what `shutil.get_terminal_size` does). `wide=True`
prints every cell in full, for logs and for piping into other tools.
"""
from __future__ import annotations

import shutil
import textwrap
from typing import Any, Sequence

ELLIPSIS = "…"
MIN_COLUMN = 6  # a cut column keeps at least this many characters (header included)


def terminal_width() -> int:
    return shutil.get_terminal_size(fallback=(80, 24)).columns


def cell_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{round(value, 4) + 0.0:.4f}"  # + 0.0 turns a rounded -0.0 (e.g. an oracle FID of -1e-13) into 0.0
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value is None else str(value)


def _render(columns: list[str], body: list[list[str]], widths: list[int]) -> list[str]:
    def line(cells):
        return "  ".join(_cut(c, w).ljust(w) for c, w in zip(cells, widths)).rstrip()
    return [line(columns), "  ".join("-" * w for w in widths)] + [line(r) for r in body]


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + ELLIPSIS


def wrap_table(rows: list[dict[str, Any]], width: int | None = None) -> str:
    """Every cell in full (numbers are never cut), the columns split into blocks that each fit `width`; every block
    repeats the first column (the row's name), as pandas prints a wide frame."""
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    body = [[cell_text(row.get(c)) for c in columns] for row in rows]
    natural = [max([len(c)] + [len(r[i]) for r in body]) for i, c in enumerate(columns)]
    width = width or terminal_width()
    blocks, current = [], [0]
    for i in range(1, len(columns)):
        if current[1:] and sum(natural[k] + 2 for k in current) + natural[i] > width:
            blocks.append(current)
            current = [0]
        current.append(i)
    blocks.append(current)
    parts = ["\n".join(_render([columns[k] for k in block], [[r[k] for k in block] for r in body],
                                [natural[k] for k in block])) for block in blocks]
    return "\n\n".join(parts)


def fit_table(rows: list[dict[str, Any]], width: int | None = None, footnote_columns: Sequence[str] = (),
              wide: bool = False, detail_hint: str | None = None) -> str:
    """Render `rows` (columns = union of keys, first-seen order) within `width` characters.

    Cells of `footnote_columns` wider than their header become "[n]" with the text printed below (identical texts
    share a number); then the widest columns but the first (the row's name) are cut until the table fits.
    `detail_hint` (e.g. "`xgem-bench models NAME` shows one in full") is printed when a cell was cut.
    """
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    body = [[cell_text(row.get(c)) for c in columns] for row in rows]
    natural = [max([len(c)] + [len(r[i]) for r in body]) for i, c in enumerate(columns)]
    if wide:
        return "\n".join(_render(columns, body, natural))
    width = width or terminal_width()
    notes: dict[str, int] = {}
    if sum(natural) + 2 * (len(columns) - 1) > width:
        for i, column in enumerate(columns):
            if column not in footnote_columns:
                continue
            for r in body:
                if len(r[i]) > len(column) + 4:
                    r[i] = f"[{notes.setdefault(r[i], len(notes) + 1)}]"
    widths = [max([len(c)] + [len(r[i]) for r in body]) for i, c in enumerate(columns)]
    cut = False
    while sum(widths) + 2 * (len(columns) - 1) > width:
        i = max(range(1, len(widths)), key=lambda k: widths[k], default=0)  # the first column names the row: kept
        floor = max(MIN_COLUMN, min(len(columns[i]), MIN_COLUMN))
        if widths[i] <= floor:
            break  # too many columns for this width: print as narrow as it gets
        widths[i] -= 1
        cut = True
    lines = _render(columns, body, widths)
    for text, number in notes.items():
        lines += textwrap.wrap(text, width=width, initial_indent=f"[{number}] ", subsequent_indent="    ",
                               break_on_hyphens=False, break_long_words=True)
    if cut and detail_hint:
        lines += textwrap.wrap(f"(cells cut to fit {width} columns: --wide prints them in full; {detail_hint})",
                               width=width, break_on_hyphens=False)
    return "\n".join(lines)
