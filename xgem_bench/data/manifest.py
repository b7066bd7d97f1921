"""The manifest dataset: a CSV or Parquet table of studies with image paths relative to a root folder.

Columns: `study_id`, `frontal`, `lateral`, `report` (required; cells may be blank), `subject_id` (default: the study
id, i.e. one subject per study), `split` (default: `test`), any of the 14 CheXpert label columns (1 / 0 / -1 / blank)
and, optionally, `frontal_sha256` / `lateral_sha256` (used for the fingerprint instead of file sizes and mtimes, so a
copied dataset keeps its fingerprint). Optional acquisition columns feed models that use them (see `Study`):
`frontal_view` (the frontal's ViewPosition, PA / AP), `frontal_source` / `lateral_source` (the original image files,
absolute or relative to the root, for models run with their own preprocessing) and `study_datetime` (sortable text,
e.g. `21800331 132559`: StudyDate and StudyTime). An optional sidecar `<manifest stem>.json` carries `name`, `synthetic`,
`description` and `licence`; the readers of this package (demo, MIMIC-CXR, IU X-ray) all write one.

Pixels are read only in `load(i)`; images that are not 256x256 are zero-padded to square and resized there.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from xgem_bench.atomic import atomic_write_text
from xgem_bench.data.dataset import Dataset
from xgem_bench.data.images import load_image
from xgem_bench.data.study import CHEXPERT_LABELS, IMAGE_SIZE, Study
from xgem_bench.tasks import Modality

REQUIRED_COLUMNS = ("study_id", "frontal", "lateral", "report")
DEFAULT_SPLIT = "test"
LABEL_VALUES = {1.0, 0.0, -1.0}
#: label cells that mean "not mentioned" (what pandas, R and spreadsheets write for a missing value)
BLANK_LABELS = {"", "nan", "na", "n/a", "null", "none"}
_HASH_COLUMNS = {Modality.FRONTAL: "frontal_sha256", Modality.LATERAL: "lateral_sha256"}
_SOURCE_COLUMNS = {"frontal": "frontal_source", "lateral": "lateral_source"}
ACQUISITION_COLUMNS = ("frontal_view", *_SOURCE_COLUMNS.values(), "study_datetime")


class ManifestError(ValueError):
    """A manifest that cannot be used as it stands (missing columns, duplicate ids, paths outside the root...)."""


class ManifestDataset(Dataset):
    """A table of studies; image paths are resolved against `root` and must stay inside it."""

    def __init__(self, table: pd.DataFrame, root: str | os.PathLike, name: str = "manifest",
                 synthetic: bool = False, source: str = "", meta: dict | None = None):
        self.root = Path(root)
        self.name = name
        self.synthetic = synthetic
        self.source = source or str(self.root)
        self.meta = dict(meta or {})
        self._table = _normalise(table, self.source)
        for modality in (Modality.FRONTAL, Modality.LATERAL):
            for value in self._table[modality.field]:
                if value:
                    self._resolve(value)  # refuse escaping paths up front, not halfway through a run

    # --- Dataset contract ---------------------------------------------------------------------------------------
    @property
    def study_ids(self) -> list[str]:
        return self._table["study_id"].tolist()

    @property
    def splits(self) -> list[str]:
        return self._table["split"].tolist()

    @property
    def subject_ids(self) -> list[str]:
        return self._table["subject_id"].tolist()

    @property
    def study_datetimes(self) -> list[str]:
        return self._table["study_datetime"].tolist()

    def available(self, modality: Modality) -> np.ndarray:
        column = self._table[Modality(modality).field]
        return column.map(lambda v: bool(v.strip())).to_numpy(dtype=bool)

    def load(self, index: int, modalities: Iterable[Modality] | None = None) -> Study:
        row = self._table.iloc[index]
        wanted = set(Modality) if modalities is None else set(modalities)
        images = {}
        for modality in (Modality.FRONTAL, Modality.LATERAL):
            value = row[modality.field] if modality in wanted else ""
            images[modality.field] = load_image(self._resolve(value), IMAGE_SIZE) if value else None
        report = row["report"].strip() or None
        sources = {view: str(self._source(row[column])) for view, column in _SOURCE_COLUMNS.items() if row[column]}
        return Study(study_id=row["study_id"], subject_id=row["subject_id"], report=report,
                     labels=self.labels(index), split=row["split"], frontal_view=row["frontal_view"],
                     sources=sources, study_datetime=row["study_datetime"], **images)

    def labels(self, index: int) -> dict[str, float]:
        """The study's non-blank CheXpert labels, without reading pixels."""
        row = self._table.iloc[index]
        return {name: float(row[name]) for name in CHEXPERT_LABELS
                if name in self._table.columns and not pd.isna(row[name])}

    def label_table(self) -> pd.DataFrame:
        """All studies' CheXpert labels (NaN = blank), one column per label the manifest has."""
        return self._table[[c for c in CHEXPERT_LABELS if c in self._table.columns]].copy()

    def content_digest(self) -> str:
        h = hashlib.sha256()
        label_columns = [c for c in CHEXPERT_LABELS if c in self._table.columns]
        for record in self._table.to_dict("records"):
            h.update("|".join(str(record[c]) for c in ("study_id", "subject_id", "split", "report")).encode())
            h.update(str([record[c] for c in label_columns]).encode())
            for modality in (Modality.FRONTAL, Modality.LATERAL):
                h.update(self._file_identity(record, modality).encode())
            acquisition = [record[c] for c in ACQUISITION_COLUMNS]
            if any(acquisition):  # manifests without these columns keep the fingerprint they had
                h.update(str(acquisition).encode())
        return h.hexdigest()

    # --- helpers -------------------------------------------------------------------------------------------------
    @property
    def table(self) -> pd.DataFrame:
        return self._table.copy()

    def path(self, index: int, modality: Modality) -> Path | None:
        value = self._table.iloc[index][Modality(modality).field]
        return self._resolve(value) if value else None

    def missing_files(self) -> list[Path]:
        """Image paths named in the manifest that do not exist (a stat per file; no pixels read)."""
        missing = []
        for modality in (Modality.FRONTAL, Modality.LATERAL):
            for value in self._table[modality.field]:
                if value and not self._resolve(value).is_file():
                    missing.append(self._resolve(value))
        return missing

    def _resolve(self, value: str) -> Path:
        # Lexical check (normpath, not resolve): '..' and absolute paths outside the root are refused, while a
        # symlink placed inside the root on purpose is followed.
        root = os.path.normpath(os.path.abspath(self.root))
        full = os.path.normpath(os.path.join(root, value))
        if os.path.commonpath([root, full]) != root:
            raise ManifestError(f"{self.source}: image path {value!r} escapes the manifest root {root}")
        return Path(full)

    def _source(self, value: str) -> Path:
        # originals usually live in the download folder (e.g. MIMIC-CXR-JPG), outside the manifest root
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.root / path

    def _file_identity(self, record: dict, modality: Modality) -> str:
        value = record[modality.field]
        if not value:
            return "-"
        digest = record.get(_HASH_COLUMNS[modality])
        if isinstance(digest, str) and digest:
            return f"{value}:{digest}"
        try:
            stat = self._resolve(value).stat()
            return f"{value}:{stat.st_size}:{stat.st_mtime_ns}"
        except FileNotFoundError:
            return f"{value}:missing"


def _normalise(table: pd.DataFrame, source: str) -> pd.DataFrame:
    table = table.copy()
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ManifestError(f"{source}: missing required column(s) {missing}; a manifest needs "
                            f"{list(REQUIRED_COLUMNS)} (cells may be blank) and may have subject_id, split, "
                            "and CheXpert label columns")
    text_columns = ["study_id", "subject_id", "frontal", "lateral", "report", "split", *_HASH_COLUMNS.values(),
                    *ACQUISITION_COLUMNS]
    for column in ACQUISITION_COLUMNS:
        if column not in table.columns:
            table[column] = ""
    for column in text_columns:
        if column in table.columns:
            table[column] = table[column].map(lambda v: "" if _blank(v) else str(v).strip())
    table["frontal_view"] = table["frontal_view"].str.upper()
    if table.empty:
        raise ManifestError(f"{source}: the manifest has a header but no studies; add one row per study")
    for column in ("study_id", "subject_id"):
        if column in table.columns:
            bad = np.flatnonzero(table[column].str.contains(r"[\x00-\x1f\x7f]", regex=True))
            if len(bad):  # a NUL byte would silently truncate the id in file names and C libraries
                raise ManifestError(f"{source}: {column} at row(s) {(bad + 2)[:5].tolist()} contains control "
                                    "characters (NUL, tab, newline...); ids must be printable text")
    if (table["study_id"] == "").any():
        rows = (np.flatnonzero(table["study_id"] == "") + 2)[:5].tolist()
        raise ManifestError(f"{source}: empty study_id at row(s) {rows} (line numbers, header = 1)")
    duplicated = table["study_id"][table["study_id"].duplicated()].unique().tolist()
    if duplicated:
        raise ManifestError(f"{source}: duplicate study ids {duplicated[:5]}"
                            f"{' ...' if len(duplicated) > 5 else ''}; each study must appear once")
    if "subject_id" not in table.columns:
        table["subject_id"] = table["study_id"]
    table.loc[table["subject_id"] == "", "subject_id"] = table["study_id"]
    if "split" not in table.columns:
        table["split"] = DEFAULT_SPLIT
    table.loc[table["split"] == "", "split"] = DEFAULT_SPLIT
    for name in CHEXPERT_LABELS:
        if name in table.columns:
            table[name] = _parse_labels(table[name], name, source)
    return table.reset_index(drop=True)


def _blank(value) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value)) or str(value).strip() in ("", "nan")


def _parse_labels(column: pd.Series, name: str, source: str) -> pd.Series:
    blank = column.map(lambda v: _blank(v) or str(v).strip().lower() in BLANK_LABELS)
    values = pd.to_numeric(column.mask(blank, np.nan), errors="coerce")
    bad = column[values.isna() & ~blank]
    bad = pd.concat([bad, column[values.notna() & ~values.isin(LABEL_VALUES)]])
    if len(bad):
        raise ManifestError(f"{source}: label column {name!r} has values {sorted(map(str, bad.unique()))[:5]}; "
                            "allowed are 1, 0, -1 (uncertain) or blank (empty, NaN, NA)")
    return values.astype(float)


def read_manifest(path: str | os.PathLike, root: str | os.PathLike | None = None) -> ManifestDataset:
    """Read a .csv or .parquet manifest; image paths are relative to `root` (default: the manifest's folder)."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest {path} does not exist")
    try:
        if path.suffix.lower() == ".parquet":
            table = pd.read_parquet(path)
        else:
            table = pd.read_csv(io.StringIO(_csv_text(path)), dtype=str, keep_default_na=False)
    except ManifestError:
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError, ValueError) as error:
        raise ManifestError(f"manifest {path} cannot be read: {error}") from error
    meta = read_sidecar(path)
    return ManifestDataset(table, root if root is not None else path.parent, name=meta.get("name", path.stem),
                           synthetic=bool(meta.get("synthetic", False)), source=str(path), meta=meta)


def _csv_text(path: Path) -> str:
    """The manifest's text, refusing what pandas would silently mangle (NUL bytes end a field in its C parser)."""
    raw = path.read_bytes()
    if b"\0" in raw:
        line = raw[:raw.index(b"\0")].count(b"\n") + 1
        raise ManifestError(f"manifest {path}: line {line} contains a NUL byte; ids and paths must be printable text")
    try:
        return raw.decode("utf-8-sig")  # Excel adds a BOM
    except UnicodeDecodeError as error:
        raise ManifestError(f"manifest {path} is not UTF-8 text (byte 0x{raw[error.start]:02x} at offset "
                            f"{error.start}); re-save it as UTF-8, e.g. `iconv -f latin1 -t utf-8 {path} > "
                            f"{path.with_name(path.stem + '-utf8' + path.suffix)}`") from None


def read_sidecar(path: str | os.PathLike) -> dict:
    sidecar = Path(path).with_suffix(".json")
    if not sidecar.is_file():
        return {}
    try:
        return json.loads(sidecar.read_text())
    except json.JSONDecodeError as error:
        raise ManifestError(f"{sidecar}: invalid JSON ({error})") from error


def write_manifest(table: pd.DataFrame, path: str | os.PathLike, meta: dict) -> Path:
    """Write a CSV manifest and its JSON sidecar (used by every builder in this package), each atomically."""
    path = Path(path)
    atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=2, sort_keys=True) + "\n")
    atomic_write_text(path, table.to_csv(index=False))  # last: a manifest is never there without its sidecar
    return path


def load_manifest(argument: str | None) -> ManifestDataset:
    """`manifest:PATH` in load_dataset."""
    if not argument:
        raise ManifestError("the manifest reader needs a path: use --dataset manifest:PATH.csv (or .parquet)")
    return read_manifest(argument)
