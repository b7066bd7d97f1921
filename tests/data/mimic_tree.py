"""A small MIMIC-CXR in the official formats, as two PhysioNet project folders:

  mimic-cxr/files/pXX/pSUBJECT/sSTUDY.txt and sSTUDY/DICOM_ID.dcm   (reports and DICOMs)
  mimic-cxr-jpg/mimic-cxr-2.0.0-{metadata,split,chexpert}.csv.gz     (the real column names and order)
  mimic-cxr-jpg/files/pXX/pSUBJECT/sSTUDY/DICOM_ID.jpg

DICOMs carry the transfer syntaxes a PACS export holds: explicit and implicit VR little endian, RLE lossless, JPEG
lossless (process 14, SV1) and JPEG 2000 lossless (the last two encoded with GDCM, the `dicom` extra). Reports are
the official-style texts of mimic_reports.py. STUDIES says what each study is there to test.
"""
from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from conftest import write_dicom
from mimic_reports import REPORTS

METADATA_COLUMNS = ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows",
                    "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning",
                    "ViewCodeSequence_CodeMeaning", "PatientOrientationCodeSequence_CodeMeaning"]
CHEXPERT_COLUMNS = ["subject_id", "study_id", "Atelectasis", "Cardiomegaly", "Consolidation", "Edema",
                    "Enlarged Cardiomediastinum", "Fracture", "Lung Lesion", "Lung Opacity", "No Finding",
                    "Pleural Effusion", "Pleural Other", "Pneumonia", "Pneumothorax", "Support Devices"]
CODE_MEANING = {"PA": "postero-anterior", "AP": "antero-posterior", "LATERAL": "lateral", "LL": "left lateral"}

# subject, study, [(image name, ViewPosition, DICOM options)], note. ViewPosition "" with a code meaning in the
# options' "code" key tests the fallback; "missing" images are in the metadata but not on disk.
STUDIES = [
    ("10000001", "50000001", [("a", "PA", {"photometric": "MONOCHROME1"}),
                              ("b", "LATERAL", {"spacing": (0.278, 0.278)}), ("c", "AP", {})],
     "impression; PA wins over AP; all-mode has 3 rows"),
    ("10000001", "50000002", [("a", "AP", {"syntax": "implicit"}), ("b", "LL", {"syntax": "rle"})],
     "addendum on top; AP + LL"),
    ("10000002", "50000003", [("a", "PA", {"syntax": "jpeg-lossless"}), ("b", "LATERAL", {"syntax": "j2k"})],
     "CONCLUSION header; compressed DICOMs"),
    ("10000003", "50000007", [("a", "PA", {}), ("b", "LATERAL", {})], "CHEST, TWO VIEWS: findings only"),
    ("10000004", "50000009", [("a", "", {"code": "postero-anterior"}), ("b", "LATERAL", {})],
     "blank ViewPosition; last paragraph only"),
    ("10000005", "50913680", [("a", "PA", {}), ("b", "LATERAL", {})], "custom rule of the official parser"),
    ("10000006", "50000005", [("a", "PA", {}), ("b", "XTABLE LATERAL", {}), ("c", "SWIMMERS", {})],
     "no usable lateral"),
    ("10000007", "50000006", [("a", "AP AXIAL", {}), ("b", "LATERAL", {}), ("c", "PA LLD", {})],
     "no usable frontal"),
    ("10000008", "50000004", [("a", "PA", {}), ("b", "LATERAL", {})], "no report file"),
    ("10000009", "50000011", [("a", "PA", {"missing": True}), ("b", "LATERAL", {})], "frontal not on disk"),
]
SPLIT_OF_SUBJECT = {"10000001": "train", "10000002": "validate"}  # everyone else: test
STORED_VALUE = 1000  # of 4095 (12 bits stored)


def dicom_id(study: str, name: str) -> str:
    """A dicom id in MIMIC's form: five groups of eight hex digits."""
    digest = hashlib.sha256(f"{study}{name}".encode()).hexdigest()
    return "-".join(digest[i:i + 8] for i in range(0, 40, 8))


def transcode(path: Path, syntax: str) -> None:
    """Rewrite an explicit VR little endian DICOM in another transfer syntax."""
    import pydicom

    if syntax == "implicit":
        ds = pydicom.dcmread(path)
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        ds.save_as(path, implicit_vr=True, little_endian=True)
    elif syntax == "rle":
        ds = pydicom.dcmread(path)
        ds.compress(pydicom.uid.RLELossless)
        ds.save_as(path)
    else:
        import gdcm

        target = {"jpeg-lossless": gdcm.TransferSyntax.JPEGLosslessProcess14_1,
                  "j2k": gdcm.TransferSyntax.JPEG2000Lossless}[syntax]
        reader = gdcm.ImageReader()
        reader.SetFileName(str(path))
        assert reader.Read(), path
        change = gdcm.ImageChangeTransferSyntax()
        change.SetTransferSyntax(gdcm.TransferSyntax(target))
        change.SetInput(reader.GetImage())
        assert change.Change(), syntax
        writer = gdcm.ImageWriter()
        writer.SetFileName(str(path))
        writer.SetFile(reader.GetFile())
        writer.SetImage(change.GetOutput())
        assert writer.Write(), path


def _csv_gz(table: pd.DataFrame, path: Path) -> None:
    with gzip.open(path, "wt", newline="") as handle:
        table.to_csv(handle, index=False)


def build_mimic_tree(root: Path, shape: tuple[int, int] = (60, 40)) -> dict[str, Path]:
    """Both project folders under root; returns {"dicom": mimic-cxr folder, "jpg": mimic-cxr-jpg folder}."""
    dicom_root, jpg_root = root / "mimic-cxr", root / "mimic-cxr-jpg"
    metadata, split = [], []
    stored = np.full(shape, STORED_VALUE, np.uint16)
    for subject, study, images, _ in STUDIES:
        relative = Path("files") / f"p{subject[:2]}" / f"p{subject}" / f"s{study}"
        if study in REPORTS and study != "50000004":
            (dicom_root / relative).parent.mkdir(parents=True, exist_ok=True)
            (dicom_root / relative).with_suffix(".txt").write_text(REPORTS[study])
        for name, view, options in images:
            options = dict(options)
            image_id = dicom_id(study, name)
            syntax, code, missing = options.pop("syntax", None), options.pop("code", None), options.pop("missing", 0)
            if not missing:
                path = write_dicom(dicom_root / relative / f"{image_id}.dcm", stored, **options)
                if syntax:
                    transcode(path, syntax)
                (jpg_root / relative).mkdir(parents=True, exist_ok=True)
                grey = 255 - STORED_VALUE * 255 // 4095 if options.get("photometric") == "MONOCHROME1" else \
                    STORED_VALUE * 255 // 4095
                Image.fromarray(np.full(shape, grey, np.uint8)).save(jpg_root / relative / f"{image_id}.jpg",
                                                                      quality=95)
            metadata.append({"dicom_id": image_id, "subject_id": int(subject), "study_id": int(study),
                             "PerformedProcedureStepDescription": "CHEST (PA AND LAT)", "ViewPosition": view or None,
                             "Rows": shape[0], "Columns": shape[1], "StudyDate": 21800506, "StudyTime": 213014.531,
                             "ProcedureCodeSequence_CodeMeaning": "CHEST (PA AND LAT)",
                             "ViewCodeSequence_CodeMeaning": code or CODE_MEANING.get(view),
                             "PatientOrientationCodeSequence_CodeMeaning": "Erect"})
            split.append({"dicom_id": image_id, "study_id": int(study), "subject_id": int(subject),
                          "split": SPLIT_OF_SUBJECT.get(subject, "test")})
    jpg_root.mkdir(parents=True, exist_ok=True)
    _csv_gz(pd.DataFrame(metadata, columns=METADATA_COLUMNS), jpg_root / "mimic-cxr-2.0.0-metadata.csv.gz")
    _csv_gz(pd.DataFrame(split), jpg_root / "mimic-cxr-2.0.0-split.csv.gz")
    labels = [{"subject_id": 10000001, "study_id": 50000001, "Cardiomegaly": 1.0, "No Finding": None},
              {"subject_id": 10000001, "study_id": 50000002, "Edema": -1.0, "Pleural Effusion": 1.0}]
    _csv_gz(pd.DataFrame(labels, columns=CHEXPERT_COLUMNS), jpg_root / "mimic-cxr-2.0.0-chexpert.csv.gz")
    return {"dicom": dicom_root, "jpg": jpg_root}
