"""MIMIC-CXR: a small fake tree in the official layout (DICOMs written with pydicom, JPGs, report texts, CSVs),
preprocessed by the real code path; plus the real shared radiographs passed through the same pipeline."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from xgem_bench.data import load_dataset
from xgem_bench.data.images import load_image
from xgem_bench.data.mimic import MimicError, extract_impression, plan_mimic, prepare_mimic

REPORT_IMPRESSION = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 FINDINGS:
 The heart is mildly enlarged.  No pleural effusion.

 IMPRESSION:
 Mild cardiomegaly.
 No acute process.
"""
REPORT_FINDINGS_ONLY = """ FINAL REPORT
 INDICATION:  Cough.

 FINDINGS:  Lungs are clear.  No effusion.
"""
REPORT_PLAIN = """ FINAL REPORT

 Portable chest radiograph.

 Stable appearance of the chest without acute change.
"""


def _folder(root, subject, study):
    folder = root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def mimic_tree(tmp_path, dicom_writer):
    root = tmp_path / "mimic"
    meta, split = [], []
    stored = np.full((300, 200), 1000, np.uint16)  # non-square, 12 bits stored in 16

    def add(subject, study, dicom, view, the_split, kind="dcm", **dicom_options):
        folder = _folder(root, subject, study)
        if kind == "dcm":
            dicom_writer(folder / f"{dicom}.dcm", stored, **dicom_options)
        elif kind == "jpg":
            Image.fromarray(np.full((240, 320), 128, np.uint8)).save(folder / f"{dicom}.jpg")
        meta.append({"dicom_id": dicom, "subject_id": subject, "study_id": study, "ViewPosition": view})
        split.append({"dicom_id": dicom, "subject_id": subject, "study_id": study, "split": the_split})

    # study 1: MONOCHROME1 PA at the standard spacing + lateral at a non-standard spacing
    add("10000001", "50000001", "d1a", "PA", "train", photometric="MONOCHROME1")
    add("10000001", "50000001", "d1b", "LATERAL", "train", spacing=(0.278, 0.278))
    (_folder(root, "10000001", "50000001").with_suffix(".txt")).write_text(REPORT_IMPRESSION)
    # study 2 (same subject): JPG images, AP + LL, report without IMPRESSION
    add("10000001", "50000002", "d2a", "AP", "train", kind="jpg")
    add("10000001", "50000002", "d2b", "LL", "train", kind="jpg")
    (_folder(root, "10000001", "50000002").with_suffix(".txt")).write_text(REPORT_FINDINGS_ONLY)
    # study 3: frontal only -> not usable for the paper's tasks
    add("10000002", "50000003", "d3a", "PA", "test")
    (_folder(root, "10000002", "50000003").with_suffix(".txt")).write_text(REPORT_IMPRESSION)
    # study 4: lateral DICOM without pixel data -> recorded in errors.csv, study dropped
    add("10000003", "50000004", "d4a", "PA", "test")
    add("10000003", "50000004", "d4b", "LATERAL", "test", with_pixels=False)
    (_folder(root, "10000003", "50000004").with_suffix(".txt")).write_text(REPORT_IMPRESSION)
    # study 5: AP and PA present (PA wins), report with only a plain paragraph
    add("10000004", "50000005", "d5a", "AP", "test")
    add("10000004", "50000005", "d5b", "PA", "test", photometric="MONOCHROME1")
    add("10000004", "50000005", "d5c", "LL", "test", spacing=(0.1, 0.1), spacing_tag="ImagerPixelSpacing")
    (_folder(root, "10000004", "50000005").with_suffix(".txt")).write_text(REPORT_PLAIN)
    pd.DataFrame(meta).to_csv(root / "mimic-cxr-2.0.0-metadata.csv.gz", index=False)
    pd.DataFrame(split).to_csv(root / "mimic-cxr-2.0.0-split.csv", index=False)
    pd.DataFrame([{"subject_id": "10000001", "study_id": "50000001", "Cardiomegaly": 1.0, "Edema": -1.0}]).to_csv(
        root / "mimic-cxr-2.0.0-chexpert.csv", index=False)
    return root


def test_impression_extraction():
    assert extract_impression(REPORT_IMPRESSION) == ("Mild cardiomegaly. No acute process.", "impression")
    assert extract_impression(REPORT_FINDINGS_ONLY) == ("Lungs are clear. No effusion.", "findings")
    assert extract_impression(REPORT_PLAIN) == ("Stable appearance of the chest without acute change.",
                                                "last_paragraph")
    assert extract_impression("") == ("", "none")


def test_pairing_and_plan(mimic_tree):
    plan = plan_mimic(mimic_tree).set_index("study_id")
    assert sorted(plan.index) == ["50000001", "50000002", "50000004", "50000005"]  # 3 lacks a lateral
    assert plan.loc["50000005", "frontal_dicom"] == "d5b" and plan.loc["50000005", "lateral_dicom"] == "d5c"
    assert plan.loc["50000002", "frontal_source"].endswith("d2a.jpg")
    assert plan.loc["50000001", "report"] == "Mild cardiomegaly. No acute process."
    assert plan.loc["50000001", "Cardiomegaly"] == 1.0
    assert len(plan_mimic(mimic_tree, require_both=False)) == 5


def test_prepare_writes_preprocessed_manifest_once(mimic_tree, tmp_path):
    out = tmp_path / "out"
    manifest = prepare_mimic(mimic_tree, out)
    ds = load_dataset(f"mimic-cxr:{out}")
    assert ds.study_ids == ["50000001", "50000002", "50000005"]  # 4 dropped: its lateral has no pixel data
    errors = pd.read_csv(out / "errors.csv")
    assert len(errors) == 1 and "no pixel data" in errors["error"][0] and "d4b" in errors["error"][0]
    assert ds.splits == ["train", "train", "test"]
    first = ds.load(0)
    assert first.labels == {"Cardiomegaly": 1.0, "Edema": -1.0}
    # MONOCHROME1 stored 1000 of 4095 -> 1 - 1000/4095, zero-padded left and right (300x200 -> 300x300)
    assert np.isclose(first.frontal[128, 128], 1 - 1000 / 4095, atol=1e-4)
    assert first.frontal[:, :40].max() == 0 and first.frontal[:, -40:].max() == 0
    # lateral at 0.278 mm was resampled to 600x400 before padding: same proportions, same values
    assert np.isclose(first.lateral[128, 128], 1000 / 4095, atol=1e-4) and first.lateral[:, :40].max() == 0
    jpg_study = ds.load(1)
    assert np.isclose(jpg_study.frontal[128, 128], 128 / 255, atol=1e-4) and jpg_study.frontal[:20].max() == 0
    # a second run rewrites nothing it already has
    image = out / ds.table["frontal"][0]
    stamp = image.stat().st_mtime_ns
    prepare_mimic(mimic_tree, out)
    assert image.stat().st_mtime_ns == stamp
    assert manifest.with_suffix(".json").is_file()


def test_study_missing_from_the_split_csv_is_unassigned(mimic_tree):
    split = pd.read_csv(mimic_tree / "mimic-cxr-2.0.0-split.csv", dtype=str)
    split[~split["dicom_id"].isin(["d1a", "d1b"])].to_csv(mimic_tree / "mimic-cxr-2.0.0-split.csv", index=False)
    plan = plan_mimic(mimic_tree).set_index("study_id")
    assert plan.loc["50000001", "split"] == "unassigned" and plan.loc["50000005", "split"] == "test"


def test_holdout_split_is_subject_disjoint(mimic_tree):
    plan = plan_mimic(mimic_tree, split="holdout", holdout_fraction=0.5)
    assert set(plan["split"]) <= {"train", "test"}
    assert plan.groupby("subject_id")["split"].nunique().max() == 1


def test_errors(mimic_tree, tmp_path):
    with pytest.raises(MimicError, match="no mimic-cxr-2.0.0-metadata"):
        plan_mimic(tmp_path)
    with pytest.raises(MimicError, match="split must be"):
        plan_mimic(mimic_tree, split="random")
    with pytest.raises(MimicError, match="raw MIMIC-CXR folder.*prepare-mimic"):
        load_dataset(f"mimic-cxr:{mimic_tree}")


def test_cli_prepare_and_info(mimic_tree, tmp_path):
    from xgem_bench.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["data", "prepare-mimic", str(mimic_tree), str(tmp_path / "cli"), "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "studies: 3" in result.output
    result = runner.invoke(app, ["data", "info", f"mimic-cxr:{tmp_path / 'cli'}", "--check-files"])
    assert result.exit_code == 0 and "missing image files: 0" in result.output
    result = runner.invoke(app, ["data", "prepare-mimic", str(tmp_path / "nothing"), str(tmp_path / "x")])
    assert result.exit_code == 2 and "metadata" in result.output


def test_real_radiographs_through_the_mimic_pipeline(shared_images, tmp_path, dicom_writer):
    """Real PA + lateral JPGs (Radiopaedia) as a MIMIC-CXR-JPG study, and the PA re-encoded as a 12-bit
    MONOCHROME1 DICOM at a non-standard spacing: the DICOM path must give back the same picture."""
    root = tmp_path / "mimic"
    folder = _folder(root, "19000001", "59000001")
    original = shared_images / "radiopaedia" / "original"
    Image.open(original / "covid-19-pneumonia-7-PA.jpg").save(folder / "pa.jpg")
    Image.open(original / "covid-19-pneumonia-7-L.jpg").save(folder / "lat.jpg")
    folder.with_suffix(".txt").write_text("IMPRESSION: Bilateral peripheral opacities.\n")
    pd.DataFrame([{"dicom_id": "pa", "subject_id": "19000001", "study_id": "59000001", "ViewPosition": "PA"},
                  {"dicom_id": "lat", "subject_id": "19000001", "study_id": "59000001", "ViewPosition": "LATERAL"}]
                 ).to_csv(root / "mimic-cxr-2.0.0-metadata.csv", index=False)
    pd.DataFrame([{"dicom_id": d, "study_id": "59000001", "subject_id": "19000001", "split": "test"}
                  for d in ("pa", "lat")]).to_csv(root / "mimic-cxr-2.0.0-split.csv", index=False)
    ds = load_dataset(f"mimic-cxr:{prepare_mimic(root, tmp_path / 'out').parent}")
    study = ds.load(0)
    assert study.report == "Bilateral peripheral opacities." and study.frontal.std() > 0.1

    grey = np.asarray(Image.open(original / "covid-19-pneumonia-7-PA.jpg").convert("L"), dtype=np.float64)
    stored = np.round(4095 - grey / 255 * 4095).astype(np.uint16)  # MONOCHROME1: dense = dark in storage
    dicom = dicom_writer(tmp_path / "real.dcm", stored, photometric="MONOCHROME1", spacing=(0.2, 0.2))
    from_dicom, from_jpeg = load_image(dicom), load_image(original / "covid-19-pneumonia-7-PA.jpg")
    assert np.abs(from_dicom - from_jpeg).mean() < 0.01  # same radiograph after inversion, resampling, padding
