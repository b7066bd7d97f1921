"""`xgem-bench label REPORTS.csv -o LABELS.csv`: the CheXpert labeler, in chexpert-labeler's file formats."""
from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import typer

from xgem_bench.commands._common import fail


def read_reports(path: Path, column: str | None, encoding: str) -> list[str]:
    """Reports from a CSV: chexpert-labeler's headerless one-column file, or the named column of a file with a header.
    Blank rows are kept as empty reports so row order matches the input."""
    import pandas as pd

    if not path.is_file():
        fail(f"{path}: no such file")
    raw = path.read_bytes()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as error:
        fail(f"{path} is not valid {encoding}: byte 0x{raw[error.start]:02x} at offset {error.start}. "
             f"Re-run with --encoding set to the file's encoding (for example --encoding latin-1).")
    except LookupError:
        fail(f"unknown encoding {encoding!r}")
    try:
        if column is None:
            frame = pd.read_csv(io.StringIO(text), header=None, dtype=str, keep_default_na=False,
                                skip_blank_lines=False)
            if frame.shape[1] != 1:
                fail(f"{path} has {frame.shape[1]} columns; a headerless file must have exactly one (the reports). "
                     f"For a file with a header row, name the report column with --column.")
            return frame.iloc[:, 0].tolist()
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        fail(f"{path} is not a readable CSV: {error}")
    if column not in frame.columns:
        fail(f"{path} has no column {column!r}; its columns are {list(frame.columns)}")
    return frame[column].tolist()


def register(app: typer.Typer) -> None:
    @app.command("label")
    def label(
        reports: Path = typer.Argument(..., help="CSV of reports: one report per row, no header (chexpert-labeler "
                                                 "format), or a file with a header and --column."),
        output: Path = typer.Option(..., "-o", "--output", help="Where to write the labels CSV."),
        column: str = typer.Option(None, "--column", help="Name of the report column when the CSV has a header."),
        encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of REPORTS."),
    ) -> None:
        """Label radiology reports with the 14 CheXpert observations (1 positive, 0 negative, -1 uncertain, blank
        not mentioned). Output: chexpert-labeler's labeled_reports.csv format (`Reports` plus 14 columns)."""
        from xgem_bench.labelers import label_dataframe

        if output.resolve() == reports.resolve():
            fail("the output file must differ from the input file")
        texts = read_reports(reports, column, encoding)
        frame = label_dataframe(texts)
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(output.name + ".partial")
        frame.to_csv(partial, index=False)
        os.replace(partial, output)  # never leave a half-written labels file behind
        empty = sum(1 for t in texts if not t.strip())
        note = f" ({empty} empty, labelled No Finding)" if empty else ""
        print(f"labelled {len(texts)} reports{note} -> {output}", file=sys.stderr)
