"""Where the MIMIC-CXR files are, and the official tables read from them.

MIMIC-CXR comes as two PhysioNet projects:
  mimic-cxr (2.0.0 / 2.1.0)      files/pXX/pSUBJECT/sSTUDY.txt (reports; also as mimic-cxr-reports.zip)
                                 files/pXX/pSUBJECT/sSTUDY/DICOM_ID.dcm (the DICOMs the paper used)
  mimic-cxr-jpg (2.0.0 / 2.1.0)  mimic-cxr-2.0.0-{metadata,split,chexpert,negbio}.csv.gz
                                 files/pXX/pSUBJECT/sSTUDY/DICOM_ID.jpg (8-bit, histogram-equalised, lossy)
`MimicSource` holds the three roots (images, reports, CSVs); each defaults to the SRC folder, so a folder that
merges both projects needs no option.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from xgem_bench.data.mimic_sections import strip_id_prefix

METADATA = "mimic-cxr-2.0.0-metadata"
SPLIT = "mimic-cxr-2.0.0-split"
CHEXPERT = "mimic-cxr-2.0.0-chexpert"
MIMIC_CXR = "MIMIC-CXR (PhysioNet project mimic-cxr: reports and DICOMs)"
MIMIC_CXR_JPG = "MIMIC-CXR-JPG (PhysioNet project mimic-cxr-jpg: metadata, split and CheXpert CSVs, JPGs)"
FRONTAL_VIEWS = ("PA", "AP")
LATERAL_VIEWS = ("LATERAL", "LL")
# ViewCodeSequence_CodeMeaning (DICOM view code) -> ViewPosition, for images whose ViewPosition is blank.
VIEW_FROM_CODE_MEANING = {"postero-anterior": "PA", "antero-posterior": "AP", "lateral": "LATERAL",
                          "left lateral": "LL"}
IMAGE_SUFFIXES = {".dcm": "dicom", ".jpg": "jpg"}  # in order of preference


class MimicError(ValueError):
    """The MIMIC-CXR source folder is incomplete or inconsistent."""


def _files_folder(folder: Path) -> Path | None:
    """The folder holding pXX/ groups: FOLDER/files, or FOLDER itself when it is that folder."""
    if (folder / "files").is_dir():
        return folder / "files"
    if folder.is_dir() and any(p.is_dir() and len(p.name) == 3 and p.name.startswith("p") for p in folder.iterdir()):
        return folder
    return None


@dataclass(frozen=True)
class MimicSource:
    images: Path  # folder whose files/pXX/pSUBJECT/sSTUDY/ hold DICOM_ID.dcm and/or DICOM_ID.jpg
    reports: Path  # folder whose files/pXX/pSUBJECT/ hold sSTUDY.txt
    csv_dir: Path  # folder holding mimic-cxr-2.0.0-*.csv(.gz)

    @classmethod
    def locate(cls, source: str | os.PathLike, reports: str | os.PathLike | None = None,
               csv_dir: str | os.PathLike | None = None) -> "MimicSource":
        source = Path(source)
        csv_dir = Path(csv_dir) if csv_dir else source
        if _table_file(csv_dir, METADATA) is None:
            where = "--csv-dir" if csv_dir != source else "SRC"
            raise MimicError(f"no {METADATA}.csv(.gz) in {csv_dir}: the metadata, split and CheXpert CSVs ship with "
                             f"{MIMIC_CXR_JPG}, not with MIMIC-CXR; pass the folder that holds them as --csv-dir "
                             f"(given: {where} {csv_dir})")
        images = _files_folder(source)
        if images is None:
            raise MimicError(f"{source} has no files/ folder of images (files/pXX/pSUBJECT/sSTUDY/DICOM_ID.dcm or "
                             f".jpg): point SRC at {MIMIC_CXR} for DICOMs, or at {MIMIC_CXR_JPG}")
        report_root = _files_folder(Path(reports)) if reports else images
        if report_root is None:
            raise MimicError(f"{reports} has no files/ folder of reports (files/pXX/pSUBJECT/sSTUDY.txt): the "
                             f"reports ship with {MIMIC_CXR} (its files/ folder, or mimic-cxr-reports.zip "
                             "unpacked); pass that folder as --reports")
        return cls(images, report_root, csv_dir)

    def table(self, stem: str, required: bool = True) -> pd.DataFrame | None:
        """An official CSV with ids as strings without the s/p prefixes."""
        path = _table_file(self.csv_dir, stem)
        if path is None:
            if required:
                raise MimicError(f"no {stem}.csv(.gz) in {self.csv_dir}: it ships with {MIMIC_CXR_JPG}; pass its "
                                 "folder as --csv-dir")
            return None
        table = pd.read_csv(path, dtype={"dicom_id": str, "subject_id": str, "study_id": str})
        for column, prefix in (("subject_id", "p"), ("study_id", "s")):
            if column in table.columns:
                table[column] = table[column].map(lambda v: strip_id_prefix(v, prefix))
        if "dicom_id" in table.columns:
            table["dicom_id"] = table["dicom_id"].str.strip()
        return table

    def study_folder(self, root: Path, subject: str, study: str) -> Path:
        return root / f"p{subject[:2]}" / f"p{subject}" / f"s{study}"

    def report_file(self, subject: str, study: str) -> Path:
        return self.study_folder(self.reports, subject, study).with_suffix(".txt")

    def image_file(self, subject: str, study: str, dicom_id: str) -> tuple[Path, str] | None:
        """(path, "dicom" | "jpg"); the DICOM when both exist."""
        stem = os.path.join(self.images, f"p{subject[:2]}", f"p{subject}", f"s{study}", dicom_id)
        for suffix, kind in IMAGE_SUFFIXES.items():
            if os.path.isfile(stem + suffix):  # os.path: this runs once per image of the dataset
                return Path(stem + suffix), kind
        return None


def _table_file(folder: Path, stem: str) -> Path | None:
    return next((folder / f"{stem}{ext}" for ext in (".csv", ".csv.gz") if (folder / f"{stem}{ext}").is_file()),
                None)


def read_metadata(source: MimicSource) -> pd.DataFrame:
    """The metadata table with a resolved `view` column: ViewPosition, else the view code's meaning, upper case."""
    metadata = source.table(METADATA)
    missing = {"dicom_id", "subject_id", "study_id", "ViewPosition"} - set(metadata.columns)
    if missing:
        raise MimicError(f"{source.csv_dir}: the metadata CSV lacks column(s) {sorted(missing)}; use the "
                         f"{METADATA}.csv.gz of {MIMIC_CXR_JPG}")
    view = metadata["ViewPosition"].fillna("").astype(str).str.strip().str.upper()
    if "ViewCodeSequence_CodeMeaning" in metadata.columns:
        coded = metadata["ViewCodeSequence_CodeMeaning"].fillna("").astype(str).str.strip().str.lower()
        view = view.where(view != "", coded.map(VIEW_FROM_CODE_MEANING).fillna(""))
    metadata["view"] = view
    metadata["view_group"] = view.map(lambda v: "frontal" if v in FRONTAL_VIEWS else
                                      "lateral" if v in LATERAL_VIEWS else "")
    return metadata


def read_id_list(path: str | os.PathLike) -> dict[str, set[str]]:
    """Test ids for `--split-file`: a CSV with a dicom_id, study_id and/or subject_id column, or a plain list (one
    study id or dicom id per line). Returns {"dicom_id": ..., "study_id": ..., "subject_id": ...} without prefixes."""
    path = Path(path)
    if not path.is_file():
        raise MimicError(f"split file {path} does not exist")
    lines = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    header = [c.strip() for c in lines[0].split(",")] if lines else []
    columns = [c for c in ("dicom_id", "study_id", "subject_id") if c in header]
    if columns:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        prefixes = {"dicom_id": "", "study_id": "s", "subject_id": "p"}
        ids = {c: {strip_id_prefix(v, prefixes[c]) for v in table[c] if v.strip()} if c in table.columns else set()
               for c in prefixes}
    elif any("," in line for line in lines):
        raise MimicError(f"split file {path}: a CSV needs a dicom_id, study_id or subject_id column; a plain list "
                         "has one id per line")
    else:
        ids = {"dicom_id": set(lines), "study_id": {strip_id_prefix(v, "s") for v in lines}, "subject_id": set()}
    if not any(ids.values()):
        raise MimicError(f"split file {path} lists no ids")
    return ids
