"""MIMIC-CXR from its official files, preprocessed once into a manifest dataset (the paper's section 3.1 pipeline).

Source layout (PhysioNet MIMIC-CXR 2.0 / MIMIC-CXR-JPG 2.0, as distributed; `.csv` or `.csv.gz`):
  mimic-cxr-2.0.0-metadata.csv   dicom_id, subject_id, study_id, ViewPosition, ...
  mimic-cxr-2.0.0-split.csv      dicom_id, study_id, subject_id, split (train / validate / test)
  mimic-cxr-2.0.0-chexpert.csv   subject_id, study_id, 14 CheXpert labels (optional)
  files/pXX/pSUBJECT/sSTUDY.txt                 the free-text report
  files/pXX/pSUBJECT/sSTUDY/DICOM_ID.dcm | .jpg  the images (DICOM preferred when both exist)

Per study: frontal = a PA image, else AP; lateral = a LATERAL image, else LL (the first by dicom_id when several).
Report = the IMPRESSION section (the paper uses the impression only); where a report has none we fall back to the
FINDINGS section, then to the last paragraph, and record which one in the `report_section` column. Studies need a
report and both views, as in the paper (154,721 images / 78,584 studies), unless `require_both=False`.

Splits: "official" (the split CSV; a study missing from it is "unassigned") or "holdout" (subject-disjoint hash
holdout, `holdout_fraction` of subjects to test, the rest train; the paper held out 33,588 of 154,721 images, about
22 %).

Preprocessing (xgem_bench.data.images): DICOM -> resample to 0.139 mm -> invert MONOCHROME1 -> divide by
2**BitsStored - 1 -> zero-pad to square -> 256x256; JPG -> [0, 1] -> pad -> 256x256. Stored as 16-bit PNG under
OUT/images/, once: a rerun skips images already written. Unreadable images are listed in OUT/errors.csv.
"""
from __future__ import annotations

import contextlib
import os
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from xgem_bench.data.images import ImageReadError, load_image, png_pixel_digest, save_png16
from xgem_bench.data.manifest import ManifestDataset, read_manifest, write_manifest
from xgem_bench.data.splits import hash_split
from xgem_bench.data.study import CHEXPERT_LABELS

UNASSIGNED = "unassigned"  # split of a study whose images are absent from the split CSV
FRONTAL_VIEWS = ("PA", "AP")
LATERAL_VIEWS = ("LATERAL", "LL")
MIMIC_LICENCE = ("MIMIC-CXR: PhysioNet Credentialed Health Data License 1.5.0; derived data must not be shared "
                 "outside credentialed users")
# section headers in MIMIC reports look like "IMPRESSION:" / "FINDINGS:" at the start of a line
_HEADER = re.compile(r"^\s*([A-Z][A-Z /&()-]{2,40}):", re.MULTILINE)


class MimicError(ValueError):
    """The MIMIC-CXR source folder is incomplete or inconsistent."""


def extract_impression(text: str) -> tuple[str, str]:
    """(section text, which section): IMPRESSION, else FINDINGS, else the last paragraph; whitespace collapsed."""
    headers = list(_HEADER.finditer(text))
    for wanted in ("IMPRESSION", "FINDINGS"):
        for index, header in enumerate(headers):
            if header.group(1).strip() == wanted:
                end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
                body = " ".join(text[header.end():end].split())
                if body:
                    return body, wanted.lower()
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    paragraphs = [p for p in paragraphs if p and not re.fullmatch(r"(?:FINAL REPORT|[A-Z ]+:)", p)]
    return (paragraphs[-1], "last_paragraph") if paragraphs else ("", "none")


def _read_table(source: Path, stem: str, required: bool = True) -> pd.DataFrame | None:
    for name in (f"{stem}.csv", f"{stem}.csv.gz"):
        if (source / name).is_file():
            return pd.read_csv(source / name, dtype={"dicom_id": str, "subject_id": str, "study_id": str})
    if required:
        raise MimicError(f"{source} has no {stem}.csv(.gz); point SRC at the MIMIC-CXR(-JPG) 2.0.0 folder")
    return None


def _study_folder(source: Path, subject: str, study: str) -> Path:
    return source / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}"


def _image_file(source: Path, subject: str, study: str, dicom_id: str) -> Path | None:
    folder = _study_folder(source, subject, study)
    for suffix in (".dcm", ".jpg"):
        if (folder / f"{dicom_id}{suffix}").is_file():
            return folder / f"{dicom_id}{suffix}"
    return None


def plan_mimic(source: str | os.PathLike, split: str = "official", holdout_fraction: float = 0.22,
               require_both: bool = True) -> pd.DataFrame:
    """One row per usable study (views paired, impression extracted, split and labels attached); no pixels read."""
    source = Path(source)
    metadata = _read_table(source, "mimic-cxr-2.0.0-metadata")
    missing = {"dicom_id", "subject_id", "study_id", "ViewPosition"} - set(metadata.columns)
    if missing:
        raise MimicError(f"the metadata CSV lacks column(s) {sorted(missing)}")
    if split == "official":
        splits = _read_table(source, "mimic-cxr-2.0.0-split")
        split_of = dict(zip(splits["dicom_id"], splits["split"]))
    elif split != "holdout":
        raise MimicError(f"split must be 'official' or 'holdout', not {split!r}")
    chexpert = _read_table(source, "mimic-cxr-2.0.0-chexpert", required=False)
    labels_of = {} if chexpert is None else {
        str(row["study_id"]): row for row in chexpert.to_dict("records")}
    rows = []
    for (subject, study), images in metadata.sort_values("dicom_id").groupby(["subject_id", "study_id"], sort=True):
        view_of = dict(zip(images["dicom_id"], images["ViewPosition"].fillna("").str.upper()))
        frontal = next((d for v in FRONTAL_VIEWS for d, w in view_of.items() if w == v), None)
        lateral = next((d for v in LATERAL_VIEWS for d, w in view_of.items() if w == v), None)
        report_file = _study_folder(source, subject, study).with_suffix(".txt")
        report, section = (extract_impression(report_file.read_text(errors="replace"))
                           if report_file.is_file() else ("", "none"))
        files = {view: _image_file(source, subject, study, d) if d else None
                 for view, d in (("frontal", frontal), ("lateral", lateral))}
        if require_both and not (report and files["frontal"] and files["lateral"]):
            continue
        if split == "official":
            study_split = split_of.get(frontal or lateral, UNASSIGNED)  # never guess: a missing row is visible
        else:
            study_split = hash_split(subject, {"train": 1 - holdout_fraction, "test": holdout_fraction}, "mimic")
        label_row = labels_of.get(study, {})
        rows.append({"study_id": study, "subject_id": subject, "split": study_split, "report": report,
                     "report_section": section, "frontal_dicom": frontal or "", "lateral_dicom": lateral or "",
                     "frontal_source": str(files["frontal"] or ""), "lateral_source": str(files["lateral"] or ""),
                     **{name: label_row.get(name) for name in CHEXPERT_LABELS}})
    if not rows:
        raise MimicError(f"no usable study in {source} (each needs a report and, unless allowed, both views)")
    return pd.DataFrame(rows)


def _convert(job: tuple[str, str]) -> tuple[str, str | None]:
    source, target = job
    try:
        pixels = load_image(source)
    except ImageReadError as error:
        return target, str(error)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    temporary = f"{target}.tmp.png"
    save_png16(temporary, pixels)
    os.replace(temporary, target)  # atomic: an interrupted run never leaves a half-written image
    return target, None


def prepare_mimic(source: str | os.PathLike, out: str | os.PathLike, split: str = "official",
                  holdout_fraction: float = 0.22, require_both: bool = True, workers: int = 1,
                  limit: int | None = None, progress: bool = False) -> Path:
    """Preprocess MIMIC-CXR into OUT (images/ + manifest.csv + manifest.json + errors.csv); returns the manifest."""
    out = Path(out)
    plan = plan_mimic(source, split, holdout_fraction, require_both)
    if limit:
        plan = plan.head(limit)
    jobs = []
    for view in ("frontal", "lateral"):
        targets = []
        for row in plan.to_dict("records"):
            dicom = row[f"{view}_dicom"]
            relative = (f"images/p{row['subject_id'][:2]}/p{row['subject_id']}/s{row['study_id']}/{dicom}.png"
                        if row[f"{view}_source"] else "")
            targets.append(relative)
            if relative and not (out / relative).is_file():
                jobs.append((row[f"{view}_source"], str(out / relative)))
        plan[view] = targets
    errors = {}
    out.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=workers) if workers > 1 else contextlib.nullcontext() as pool:
        results = pool.map(_convert, jobs, chunksize=16) if pool else map(_convert, jobs)
        if progress:
            from tqdm import tqdm
            results = tqdm(results, total=len(jobs), desc="preprocessing MIMIC-CXR", unit="image")
        for target, error in results:
            if error:
                errors[target] = error
    for view in ("frontal", "lateral"):
        failed = plan[view].map(lambda p: bool(p) and str(out / p) in errors)
        plan.loc[failed, view] = ""
        plan[f"{view}_sha256"] = plan[view].map(
            lambda p: png_pixel_digest(out / p) if p else "")
    if require_both:
        plan = plan[(plan["frontal"] != "") & (plan["lateral"] != "")]
    pd.DataFrame({"file": list(errors), "error": list(errors.values())}).to_csv(out / "errors.csv", index=False)
    columns = ["study_id", "subject_id", "split", "frontal", "lateral", "report", *CHEXPERT_LABELS,
               "report_section", "frontal_dicom", "lateral_dicom", "frontal_sha256", "lateral_sha256"]
    meta = {"name": "mimic-cxr", "synthetic": False, "licence": MIMIC_LICENCE, "source": str(Path(source)),
            "split": split, "holdout_fraction": holdout_fraction if split == "holdout" else None,
            "require_both": require_both, "n_image_errors": len(errors),
            "preprocessing": "resample 0.139 mm, invert MONOCHROME1, / (2**BitsStored-1), zero-pad square, 256x256 "
                             "(area filter), 16-bit PNG"}
    return write_manifest(plan[columns], out / "manifest.csv", meta)


def load_mimic(argument: str | None) -> ManifestDataset:
    """`mimic-cxr:PREPROCESSED_DIR` in load_dataset: the OUT folder of `xgem-bench data prepare-mimic SRC OUT`."""
    if not argument:
        raise MimicError("the MIMIC-CXR reader needs the preprocessed folder: --dataset mimic-cxr:DIR "
                         "(create it with: xgem-bench data prepare-mimic SRC DIR)")
    folder = Path(argument)
    if not (folder / "manifest.csv").is_file():
        hint = (" it looks like the raw MIMIC-CXR folder;" if any(folder.glob("mimic-cxr-2.0.0-metadata.csv*"))
                else "")
        raise MimicError(f"{folder} has no manifest.csv;{hint} run: xgem-bench data prepare-mimic SRC {folder}")
    return read_manifest(folder / "manifest.csv")
