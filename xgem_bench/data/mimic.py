"""MIMIC-CXR from its official files, preprocessed once into a manifest dataset (the paper's section 3.1 pipeline).

Sources (xgem_bench.data.mimic_source): metadata, split and CheXpert CSVs from MIMIC-CXR-JPG; reports and DICOMs
from MIMIC-CXR; JPGs from MIMIC-CXR-JPG only with `allow_jpg` (8-bit, histogram-equalised, lossy: not what the
paper used). Ids may carry the s/p prefixes or not.

Views: ViewPosition, else ViewCodeSequence_CodeMeaning; frontal = PA or AP, lateral = LATERAL or LL; every other
view (AP AXIAL, decubitus AP/PA LLD/RLD, XTABLE LATERAL, SWIMMERS, LAO/RAO/LPO, unknown) is excluded and counted.
Views are filtered before any report is read. `views="pair"`: one row per study, its first PA (else AP) and first
LATERAL (else LL) by dicom_id. `views="all"`: one row per image, as XGeM trains: the image in its view's column and
an image of the other view of the same study (drawn by a hash of the dicom id, so the pairing is fixed).

Report: the section chosen by `report_section` (xgem_bench.data.mimic_sections; "impression" as in the paper). As
in the paper, studies need a report text and both views unless `require_both=False`.

Splits: "official" (the split CSV; an image missing from it is "unassigned"), "holdout" (subject-disjoint hash
holdout, `holdout_fraction` of subjects to test) or "file" (`split_file` lists the test ids; the rest is train).

Preprocessing (xgem_bench.data.images) runs once per image into OUT/images/v<PREPROCESSING_VERSION>/ as 16-bit
PNGs; a rerun skips images already there, and a changed pipeline (new version) never reuses them. A sample is
decoded first and the run stops when most of it fails. Unreadable images are listed in OUT/errors.csv.
"""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from xgem_bench.atomic import atomic_path, atomic_write_text
from xgem_bench.data.images import ImageReadError, load_image, png_pixel_digest, save_png16
from xgem_bench.data.manifest import ManifestDataset, read_manifest, write_manifest
from xgem_bench.data.mimic_sections import REPORT_SECTIONS, report_text
from xgem_bench.data.mimic_source import (CHEXPERT, FRONTAL_VIEWS, LATERAL_VIEWS, MIMIC_CXR, SPLIT, MimicError,
                                          MimicSource, read_id_list, read_metadata)
from xgem_bench.data.splits import hash_split
from xgem_bench.data.study import CHEXPERT_LABELS

__all__ = ["MimicError", "plan_mimic", "prepare_mimic", "load_mimic", "PREPROCESSING_VERSION"]

UNASSIGNED = "unassigned"  # split of an image absent from the split CSV
SPLITS = ("official", "holdout", "file")
VIEW_MODES = ("pair", "all")
#: Bump when any step of the image pipeline changes: images of another version are never reused.
PREPROCESSING_VERSION = 1
PREPROCESSING = {
    "dicom": "DICOM stored values: resample to 0.139 mm (PixelSpacing, else ImagerPixelSpacing), invert MONOCHROME1, "
             "divide by 2**BitsStored-1, zero-pad to a centred square, 256x256 (box filter when shrinking), "
             "16-bit PNG (the paper's section 3.1)",
    "jpg": "MIMIC-CXR-JPG JPEG (PhysioNet's 8-bit conversion: min-max scaled, MONOCHROME1 inverted, histogram-"
           "equalised, lossy): divide by 255, zero-pad to a centred square, 256x256 (box filter when shrinking), "
           "16-bit PNG; no resampling to 0.139 mm and no bit-depth division (the JPG has no spacing or bit depth)",
}
JPG_WARNING = ("MIMIC-CXR-JPG images are 8-bit, histogram-equalised and lossy; the paper used the DICOMs of "
               f"{MIMIC_CXR}")
SAMPLE_SIZE = 16  # images decoded before the run starts; the run stops when most of them fail
LICENCE = ("MIMIC-CXR: PhysioNet Credentialed Health Data License 1.5.0; derived data must not be shared "
           "outside credentialed users")
SPLIT_NOTE = ("XGeM's test split (33,588 held-out samples) is not published: any MIMIC-CXR test split, the official "
              "one included, contains images that the released XGeM weights were trained on; import the authors' "
              "test ids with --split-file when you have them")
# the paper's counts (section 3.1), printed beside ours by `data prepare-mimic`
PAPER_COUNTS = {"images": 154_721, "studies": 78_584}


def split_note(dataset_name: str, checkpoint_ids: list) -> str | None:
    """SPLIT_NOTE when a run scores the authors' released XGeM weights on MIMIC-CXR (they saw the test images)."""
    official = any(str(c or "").startswith("xgem-official") for c in checkpoint_ids)
    return SPLIT_NOTE if official and dataset_name == "mimic-cxr" else None


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _other_view_image(dicom_id: str, candidates: list[str]) -> str:
    """XGeM pairs each image with a random image of the other view; a hash of the dicom id makes the draw fixed."""
    digest = hashlib.sha256(f"mimic-pair|{dicom_id}".encode()).digest()
    return candidates[int.from_bytes(digest[:8], "big") % len(candidates)]


def _assign_split(split: str, holdout_fraction: float, split_of: dict, test_ids: dict):
    def assign(subject: str, study: str, dicoms: list[str]) -> str:
        if split == "official":
            return next((split_of[d] for d in dicoms if d in split_of), UNASSIGNED)  # never guess
        if split == "holdout":
            return hash_split(subject, {"train": 1 - holdout_fraction, "test": holdout_fraction}, "mimic")
        listed = (subject in test_ids["subject_id"] or study in test_ids["study_id"]
                  or any(d in test_ids["dicom_id"] for d in dicoms))
        return "test" if listed else "train"
    return assign


def plan_mimic(source: str | os.PathLike, split: str = "official", holdout_fraction: float = 0.22,
               require_both: bool = True, views: str = "pair", report_section: str = "impression",
               split_file: str | os.PathLike | None = None, reports: str | os.PathLike | None = None,
               csv_dir: str | os.PathLike | None = None, allow_jpg: bool = False,
               progress: bool = False) -> pd.DataFrame:
    """The rows of the manifest (views chosen, report extracted, split and labels attached); no pixels read.

    The counts of what was kept and excluded at each step are in the result's `.attrs["counts"]`."""
    if split not in SPLITS:
        raise MimicError(f"split must be one of {SPLITS}, not {split!r}")
    if (split == "file") != (split_file is not None):
        raise MimicError("a split file goes with split='file' (the CLI's --split-file sets both)")
    if views not in VIEW_MODES:
        raise MimicError(f"views must be one of {VIEW_MODES}, not {views!r}")
    if report_section not in REPORT_SECTIONS:
        raise MimicError(f"report section must be one of {REPORT_SECTIONS}, not {report_section!r}")
    where = MimicSource.locate(source, reports=reports, csv_dir=csv_dir)
    metadata = read_metadata(where)
    split_table = where.table(SPLIT) if split == "official" else None
    split_of = {} if split_table is None else dict(zip(split_table["dicom_id"], split_table["split"]))
    test_ids = read_id_list(split_file) if split == "file" else {}
    chexpert = where.table(CHEXPERT, required=False)
    labels_of = {} if chexpert is None else {row["study_id"]: row for row in chexpert.to_dict("records")}
    counts = {"images_in_metadata": len(metadata), "studies_in_metadata": int(metadata["study_id"].nunique()),
              "excluded_views": {str(k or "(blank)"): int(v) for k, v in
                                 metadata.loc[metadata["view_group"] == "", "view"].value_counts().items()}}
    datetime_of = study_datetimes(metadata)
    usable = metadata.loc[metadata["view_group"] != "", ["subject_id", "study_id", "dicom_id", "view", "view_group"]]
    usable = usable.sort_values(["subject_id", "study_id", "dicom_id"])
    assign = _assign_split(split, holdout_fraction, split_of, test_ids)
    rows, missing_images, without_both, without_report_file, without_section, reading_reports = [], 0, 0, 0, 0, 0
    format_of = {}  # dicom id -> "dicom" | "jpg", for the images the rows use
    # plain tuples grouped by itertools: a pandas groupby costs more per study than the study's file checks
    studies = itertools.groupby(usable.itertuples(index=False, name=None), key=lambda r: (r[0], r[1]))
    if progress:
        from tqdm import tqdm
        studies = tqdm(studies, total=usable.groupby(["subject_id", "study_id"]).ngroups,
                       desc="reading metadata and reports", unit="study")
    for (subject, study), images in studies:
        images = list(images)
        groups = {dicom: group for _, _, dicom, _, group in images}
        if require_both and set(groups.values()) != {"frontal", "lateral"}:
            without_both += 1
            continue  # decided from the metadata alone: no file is touched
        files = {}
        for dicom in groups:
            found = where.image_file(subject, study, dicom)
            if found is None:
                missing_images += 1
            else:
                files[dicom] = found
        by_view = {view: [d for d in groups if groups[d] == view and d in files] for view in ("frontal", "lateral")}
        if require_both and not (by_view["frontal"] and by_view["lateral"]):
            without_both += 1
            continue
        report_file = where.report_file(subject, study)
        reading_reports += 1
        if report_file.is_file():
            report, section = report_text(report_file.read_text(errors="replace"), study, report_section)
        else:
            without_report_file += 1
            report, section = "", "none"
        if require_both and not report:
            without_section += 1 if report_file.is_file() else 0
            continue
        label_row = labels_of.get(study, {})
        view_of = {dicom: view for _, _, dicom, view, _ in images}
        for pick in _picks(views, study, by_view, view_of):
            row = {"study_id": pick["id"], "subject_id": subject, "mimic_study_id": study,
                   "anchor_view": pick["anchor"], "study_datetime": datetime_of.get(study, ""),
                   "frontal_view": view_of[pick["frontal"]] if pick["frontal"] else "",
                   "split": assign(subject, study, [pick[v] for v in ("frontal", "lateral") if pick[v]]),
                   "report": report, "report_section": section,
                   **{name: label_row.get(name) for name in CHEXPERT_LABELS}}
            for view in ("frontal", "lateral"):
                dicom = pick[view]
                path, kind = files[dicom] if dicom else ("", "")
                if dicom:
                    format_of[dicom] = kind
                row |= {f"{view}_dicom": dicom or "", f"{view}_source": str(Path(path).resolve()) if path else "",
                        f"{view}_format": kind}
            rows.append(row)
    counts |= {"studies_without_both_views": without_both, "images_missing_on_disk": missing_images,
               "studies_without_report_file": without_report_file,
               f"studies_without_{report_section}": without_section}
    if reading_reports and without_report_file == reading_reports:
        raise MimicError(f"none of the {reading_reports} studies has a report in {where.reports} "
                         f"(files/pXX/pSUBJECT/sSTUDY.txt): the reports ship with {MIMIC_CXR}; pass its folder as "
                         "--reports")
    if not rows:
        raise MimicError(f"no usable study in {where.images} (each needs both views and a {report_section} text "
                         f"unless --allow-incomplete); counts: {counts}")
    plan = pd.DataFrame(rows)
    formats = {kind: list(format_of.values()).count(kind) for kind in sorted(set(format_of.values()))}
    if formats.get("jpg") and not allow_jpg:
        raise MimicError(f"{formats['jpg']} of the images are JPGs ({JPG_WARNING}); point SRC at MIMIC-CXR's "
                         "DICOMs, or pass --allow-jpg to use the JPGs (recorded per image in the manifest)")
    counts |= {"rows": len(plan), "studies": int(plan["mimic_study_id"].nunique()),
               "images": len(format_of),
               "image_formats": formats}
    plan.attrs["counts"] = counts
    return plan


def study_datetimes(metadata: pd.DataFrame) -> dict[str, str]:
    """Study id -> "YYYYMMDD HHMMSS.fff" (sortable text) from StudyDate / StudyTime, the earliest image's; empty when
    the metadata lacks them. Longitudinal models (CXRMate) order a subject's studies by these two columns."""
    if not {"StudyDate", "StudyTime"} <= set(metadata.columns):
        return {}
    stamps = {}
    for study, date, time in zip(metadata["study_id"], metadata["StudyDate"], metadata["StudyTime"]):
        try:
            stamp = f"{int(float(date)):08d} {float(time):010.3f}"
        except (TypeError, ValueError):
            continue  # blank or malformed: no time order for this image
        stamps[study] = min(stamps.get(study, stamp), stamp)
    return stamps


def _picks(views: str, study: str, by_view: dict[str, list[str]], view_of: dict[str, str]) -> list[dict]:
    """The rows' images: {"frontal": dicom id or None, "lateral": ..., "id": row id, "anchor": view of the row}."""
    if views == "pair":
        def first(view_group: str, order: tuple[str, ...]) -> str | None:
            return next((d for view in order for d in by_view[view_group] if view_of[d] == view), None)
        return [{"frontal": first("frontal", FRONTAL_VIEWS), "lateral": first("lateral", LATERAL_VIEWS),
                 "id": study, "anchor": ""}]
    picks = []
    for anchor, other in (("frontal", "lateral"), ("lateral", "frontal")):
        for dicom in by_view[anchor]:
            partner = _other_view_image(dicom, by_view[other]) if by_view[other] else None
            picks.append({anchor: dicom, other: partner, "id": f"{study}_{dicom}", "anchor": anchor})
    return picks


def _convert(job: tuple[str, str]) -> tuple[str, str | None]:
    source, target = job
    try:
        pixels = load_image(source)
    except ImageReadError as error:
        return target, str(error)
    with atomic_path(Path(target)) as temporary:  # an interrupted run never leaves a half-written image
        save_png16(temporary, pixels)
    return target, None


def _sample(jobs: list, size: int) -> list:
    """Up to `size` jobs spread evenly over the list (a broken decoder or folder shows up wherever it starts)."""
    if len(jobs) <= size:
        return list(jobs)
    return [jobs[round(i * (len(jobs) - 1) / (size - 1))] for i in range(size)]


def _run(jobs: list, workers: int, progress: bool, desc: str) -> dict[str, str]:
    errors = {}
    if not jobs:
        return errors
    with ProcessPoolExecutor(max_workers=workers) if workers > 1 else contextlib.nullcontext() as pool:
        results = pool.map(_convert, jobs, chunksize=max(1, min(16, len(jobs) // (4 * workers)))) if pool \
            else map(_convert, jobs)
        if progress:
            from tqdm import tqdm
            results = tqdm(results, total=len(jobs), desc=desc, unit="image")  # rate and ETA on the bar
        for target, error in results:
            if error:
                errors[target] = error
    return errors


def prepare_mimic(source: str | os.PathLike, out: str | os.PathLike, split: str = "official",
                  holdout_fraction: float = 0.22, require_both: bool = True, workers: int | None = None,
                  limit: int | None = None, progress: bool = False, views: str = "pair",
                  report_section: str = "impression", split_file: str | os.PathLike | None = None,
                  reports: str | os.PathLike | None = None, csv_dir: str | os.PathLike | None = None,
                  allow_jpg: bool = False) -> Path:
    """Preprocess MIMIC-CXR into OUT (images/ + manifest.csv + manifest.json + errors.csv); returns the manifest.

    `workers` defaults to the number of CPUs this process may use; `limit` keeps the first N rows."""
    out = Path(out)
    plan = plan_mimic(source, split, holdout_fraction, require_both, views, report_section, split_file, reports,
                      csv_dir, allow_jpg, progress)
    counts = plan.attrs["counts"]
    if limit:
        plan = plan.head(limit).copy()
    workers = workers or default_workers()
    image_root = f"images/v{PREPROCESSING_VERSION}"
    jobs = {}
    for view in ("frontal", "lateral"):
        targets = []
        for row in plan.to_dict("records"):
            subject, dicom = row["subject_id"], row[f"{view}_dicom"]
            relative = (f"{image_root}/p{subject[:2]}/p{subject}/s{row['mimic_study_id']}/{dicom}.png"
                        if row[f"{view}_source"] else "")
            targets.append(relative)
            if relative and not (out / relative).is_file():
                jobs[str(out / relative)] = row[f"{view}_source"]  # in views="all" an image recurs as a partner
        plan[view] = targets
    jobs = [(src, target) for target, src in jobs.items()]
    out.mkdir(parents=True, exist_ok=True)
    sample = _sample(jobs, SAMPLE_SIZE)
    errors = _run(sample, workers, progress, "decoding a sample")
    if sample and len(errors) > len(sample) / 2:
        _write_errors(out, errors)
        first = "\n  ".join(list(errors.values())[:3])
        raise MimicError(f"{len(errors)} of {len(sample)} sample images could not be decoded, so the run stopped "
                         f"before the other {len(jobs) - len(sample)} (all listed in {out / 'errors.csv'}):\n  {first}")
    done = set(map(tuple, sample))
    errors |= _run([job for job in jobs if job not in done], workers, progress, "preprocessing MIMIC-CXR")
    _write_errors(out, errors)
    if jobs and len(errors) == len(jobs):
        raise MimicError(f"none of the {len(jobs)} images could be decoded (see {out / 'errors.csv'})")
    for view in ("frontal", "lateral"):
        failed = plan[view].map(lambda p: bool(p) and str(out / p) in errors)
        plan.loc[failed, [view, f"{view}_format"]] = ""
        plan[f"{view}_sha256"] = plan[view].map(lambda p: png_pixel_digest(out / p) if p else "")
    if require_both:
        plan = plan[(plan["frontal"] != "") & (plan["lateral"] != "")]
    counts = counts | {"rows_written": len(plan)}
    columns = ["study_id", "subject_id", "split", "frontal", "lateral", "report", *CHEXPERT_LABELS,
               "mimic_study_id", "anchor_view", "report_section", "frontal_dicom", "lateral_dicom",
               "frontal_format", "lateral_format", "frontal_sha256", "lateral_sha256",
               # what some models take as input besides pixels (manifest.py): view, originals, time order
               "frontal_view", "frontal_source", "lateral_source", "study_datetime"]
    formats = sorted((set(plan["frontal_format"]) | set(plan["lateral_format"])) - {""})
    meta = {"name": "mimic-cxr", "synthetic": False, "licence": LICENCE, "source": str(Path(source)),
            "reports": str(reports or source), "csv_dir": str(csv_dir or source),
            "split": split, "split_file": str(split_file) if split_file else None,
            "holdout_fraction": holdout_fraction if split == "holdout" else None,
            "views": views, "report_section": report_section, "require_both": require_both,
            "limit": limit or None, "n_image_errors": len(errors), "counts": counts,
            "preprocessing_version": PREPROCESSING_VERSION,
            "preprocessing": {kind: PREPROCESSING[kind] for kind in formats},
            "warnings": [JPG_WARNING] if "jpg" in formats else []}
    return write_manifest(plan[columns], out / "manifest.csv", meta)


def _write_errors(out: Path, errors: dict[str, str]) -> None:
    table = pd.DataFrame({"file": list(errors), "error": list(errors.values())})
    atomic_write_text(out / "errors.csv", table.to_csv(index=False))


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
