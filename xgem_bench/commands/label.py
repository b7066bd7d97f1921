"""`xgem-bench label REPORTS.csv -o LABELS.csv`: the CheXpert labeler, in chexpert-labeler's file formats."""
from __future__ import annotations

import sys
from pathlib import Path

import typer

from xgem_bench.commands._common import user_errors


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
        from xgem_bench.labelers.report_file import label_file

        with user_errors(ValueError, FileNotFoundError):
            texts = label_file(reports, output, column, encoding)
        empty = sum(1 for t in texts if not t.strip())
        note = f" ({empty} empty, labelled No Finding)" if empty else ""
        print(f"labelled {len(texts)} reports{note} -> {output}", file=sys.stderr)
