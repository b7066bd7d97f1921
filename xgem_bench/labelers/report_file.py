"""`xgem-bench label` as a library call: read reports from a CSV in chexpert-labeler's input formats, label them, and
write chexpert-labeler's labeled_reports.csv (`Reports` plus the 14 observation columns)."""
from __future__ import annotations

import io
from pathlib import Path

from xgem_bench.atomic import atomic_write_text


def read_reports(path: Path, column: str | None = None, encoding: str = "utf-8") -> list[str]:
    """Reports from a CSV: chexpert-labeler's headerless one-column file, or the named column of a file with a header.
    Blank rows are kept as empty reports so row order matches the input. Bad input raises ValueError (or
    FileNotFoundError) with a message that says what to do."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    raw = path.read_bytes()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not valid {encoding}: byte 0x{raw[error.start]:02x} at offset {error.start}. "
                         f"Re-run with --encoding set to the file's encoding (for example --encoding latin-1).")
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}")
    try:
        if column is None:
            frame = pd.read_csv(io.StringIO(text), header=None, dtype=str, keep_default_na=False,
                                skip_blank_lines=False)
            if frame.shape[1] != 1:
                raise ValueError(f"{path} has {frame.shape[1]} columns; a headerless file must have exactly one (the "
                                 "reports). For a file with a header row, name the report column with --column.")
            return frame.iloc[:, 0].tolist()
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise ValueError(f"{path} is not a readable CSV: {error}")
    if column not in frame.columns:
        raise ValueError(f"{path} has no column {column!r}; its columns are {list(frame.columns)}")
    return frame[column].tolist()


def label_file(reports: Path, output: Path, column: str | None = None, encoding: str = "utf-8") -> list[str]:
    """Label the reports of `reports` into `output` (written atomically); returns the reports read."""
    from xgem_bench.labelers.chexpert import label_dataframe

    if Path(output).resolve() == Path(reports).resolve():
        raise ValueError("the output file must differ from the input file")
    texts = read_reports(reports, column, encoding)
    atomic_write_text(Path(output), label_dataframe(texts).to_csv(index=False))
    return texts
