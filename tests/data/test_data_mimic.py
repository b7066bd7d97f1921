"""MIMIC-CXR ingest on a small tree in the official formats (tests/data/mimic_tree.py: the two PhysioNet projects,
gzipped CSVs with the real columns, DICOMs in five transfer syntaxes, official-style reports), preprocessed by the
real code path; plus the real shared radiographs passed through the same pipeline."""
from __future__ import annotations

import gzip
import json
from pathlib import Path
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from mimic_tree import STORED_VALUE, build_mimic_tree, dicom_id
from xgem_bench.data import load_dataset
from xgem_bench.data import mimic
from xgem_bench.data.images import ImageReadError, load_image
from xgem_bench.data.mimic import MimicError, plan_mimic, prepare_mimic


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    pytest.importorskip("gdcm", reason="the JPEG lossless / JPEG 2000 fixtures are encoded with the dicom extra")
    return build_mimic_tree(tmp_path_factory.mktemp("mimic"))


def _plan(tree, **options):
    return plan_mimic(tree["dicom"], csv_dir=tree["jpg"], **options)


def test_pair_mode_with_the_papers_impression(tree):
    plan = _plan(tree).set_index("study_id")
    assert sorted(plan.index) == ["50000001", "50000002", "50000003", "50913680"]
    assert plan.loc["50000001", "frontal_dicom"] == dicom_id("50000001", "a")  # the PA, not the AP
    assert plan.loc["50000002", "frontal_dicom"] == dicom_id("50000002", "a")  # AP when there is no PA; LL lateral
    assert plan.loc["50000002", "report"] == "Mild pulmonary edema and small effusions."  # not the addendum's
    assert plan.loc["50000003", "report_section"] == "impression"  # CONCLUSION:
    assert plan.loc["50913680", "report_section"] == "custom"
    assert list(plan["split"]) == ["train", "train", "validate", "test"]
    assert plan.loc["50000001", "Cardiomegaly"] == 1.0 and plan.loc["50000002", "Edema"] == -1.0
    assert set(plan["frontal_format"]) == {"dicom"}
    counts = _plan(tree).attrs["counts"]
    assert counts["excluded_views"] == {"AP AXIAL": 1, "PA LLD": 1, "SWIMMERS": 1, "XTABLE LATERAL": 1}
    assert counts["studies_without_both_views"] == 3  # no lateral, no frontal, frontal missing on disk
    assert counts["images_missing_on_disk"] == 1 and counts["studies_without_report_file"] == 1
    assert counts["studies_without_impression"] == 2  # findings only; last paragraph only
    assert (counts["rows"], counts["studies"], counts["images"]) == (4, 4, 8)


def test_conclusion_fallbacks_and_the_view_code_fallback(tree):
    plan = _plan(tree, report_section="conclusion").set_index("study_id")
    assert plan.loc["50000007", "report_section"] == "findings"
    # ViewPosition blank, ViewCodeSequence_CodeMeaning "postero-anterior": a frontal
    assert plan.loc["50000009", "report_section"] == "last_paragraph"
    assert plan.loc["50000009", "frontal_dicom"] == dicom_id("50000009", "a")
    assert _plan(tree, report_section="findings").set_index("study_id").loc["50000001", "report"].startswith(
        "The heart is mildly enlarged.")


def test_all_views_one_row_per_image(tree):
    plan = _plan(tree, views="all")
    assert len(plan) == 9 and plan.attrs["counts"]["images"] == 9  # 3 + 2 + 2 + 2
    study = plan[plan["mimic_study_id"] == "50000001"].set_index("anchor_view")
    assert sorted(study["study_id"]) == sorted(f"50000001_{dicom_id('50000001', n)}" for n in "abc")
    lateral_row = study.loc["lateral"]
    assert lateral_row["lateral_dicom"] == dicom_id("50000001", "b")
    assert lateral_row["frontal_dicom"] in {dicom_id("50000001", "a"), dicom_id("50000001", "c")}
    assert (study["report"] == study["report"].iloc[0]).all()
    assert _plan(tree, views="all").equals(plan)  # the other-view draw is fixed


def test_views_are_filtered_before_reports_are_read(tree, monkeypatch):
    read = []
    real = mimic.report_text
    monkeypatch.setattr(mimic, "report_text", lambda text, study, section: read.append(study) or
                        real(text, study, section))
    _plan(tree)
    assert "50000005" not in read and "50000006" not in read and "50000011" not in read


def test_ids_with_prefixes(tree, tmp_path):
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    for stem in ("metadata", "split", "chexpert"):
        name = f"mimic-cxr-2.0.0-{stem}.csv.gz"
        table = pd.read_csv(tree["jpg"] / name, dtype=str)
        table["subject_id"] = "p" + table["subject_id"]
        table["study_id"] = "s" + table["study_id"]
        with gzip.open(csv_dir / name, "wt") as handle:
            table.to_csv(handle, index=False)
    prefixed = plan_mimic(tree["dicom"], csv_dir=csv_dir)
    pd.testing.assert_frame_equal(prefixed, _plan(tree))


def test_split_file_and_holdout(tree, tmp_path):
    listed = tmp_path / "test_ids.txt"
    listed.write_text("s50000001\n99999999\n")
    plan = _plan(tree, split="file", split_file=listed).set_index("study_id")
    assert plan["split"].to_dict() == {"50000001": "test", "50000002": "train", "50000003": "train",
                                       "50913680": "train"}
    by_dicom = tmp_path / "test_ids.csv"
    pd.DataFrame({"dicom_id": [dicom_id("50000003", "b")], "note": ["x"]}).to_csv(by_dicom, index=False)
    assert _plan(tree, split="file", split_file=by_dicom).set_index("study_id").loc["50000003", "split"] == "test"
    with pytest.raises(MimicError, match="split file"):
        _plan(tree, split="file", split_file=tmp_path / "absent.txt")
    with pytest.raises(MimicError, match="goes with split='file'"):
        _plan(tree, split_file=listed)
    holdout = _plan(tree, split="holdout", holdout_fraction=0.5)
    assert set(holdout["split"]) <= {"train", "test"} and holdout.groupby("subject_id")["split"].nunique().max() == 1


def test_half_a_source_names_what_is_missing(tree, tmp_path):
    with pytest.raises(MimicError, match="ship with MIMIC-CXR-JPG.*--csv-dir"):
        plan_mimic(tree["dicom"])
    with pytest.raises(MimicError, match="reports ship with MIMIC-CXR .*--reports"):
        plan_mimic(tree["jpg"], allow_jpg=True)  # JPG project alone: CSVs and images, no report
    with pytest.raises(MimicError, match="no files/ folder of reports.*--reports"):
        plan_mimic(tree["jpg"], reports=tmp_path, allow_jpg=True)
    with pytest.raises(MimicError, match="no files/ folder of images"):
        plan_mimic(tmp_path, csv_dir=tree["jpg"])
    with pytest.raises(MimicError, match="views must be one of"):
        _plan(tree, views="frontal")


def test_prepare_dicoms_in_every_transfer_syntax(tree, tmp_path):
    out = tmp_path / "out"
    manifest = prepare_mimic(tree["dicom"], out, csv_dir=tree["jpg"], workers=1)
    ds = load_dataset(f"mimic-cxr:{out}")
    assert ds.study_ids == ["50000001", "50000002", "50000003", "50913680"]
    table = ds.table.set_index("study_id")
    assert table["frontal"].str.startswith("images/v1/p10/").all()
    expected = STORED_VALUE / 4095
    for index in range(len(ds)):  # explicit/implicit VR, RLE, JPEG lossless, JPEG 2000: same stored values
        study = ds.load(index)
        for image, view in ((study.frontal, "frontal"), (study.lateral, "lateral")):
            value = 1 - expected if (study.study_id, view) == ("50000001", "frontal") else expected  # MONOCHROME1
            assert np.isclose(image[128, 128], value, atol=1e-4), (study.study_id, view)
            assert image[:, :40].max() == 0  # 60x40 zero-padded left and right
    meta = json.loads(manifest.with_suffix(".json").read_text())
    assert list(meta["preprocessing"]) == ["dicom"] and meta["warnings"] == []
    assert meta["preprocessing_version"] == 1 and meta["report_section"] == "impression" and meta["views"] == "pair"
    assert set(table["frontal_format"]) == {"dicom"}
    # the acquisition facts models read (manifest.py): the frontal's ViewPosition, the original file, the time
    study = ds.load(0)
    assert study.frontal_view in ("PA", "AP") and study.study_datetime == "21800506 213014.531"
    assert Path(study.sources["frontal"]).is_file() and study.sources["frontal"].endswith(".dcm")
    image = out / table["frontal"].iloc[0]
    stamp = image.stat().st_mtime_ns
    prepare_mimic(tree["dicom"], out, csv_dir=tree["jpg"], workers=1)
    assert image.stat().st_mtime_ns == stamp  # a rerun rewrites nothing it has


def test_a_new_preprocessing_version_never_reuses_images(tree, tmp_path, monkeypatch):
    out = tmp_path / "out"
    prepare_mimic(tree["dicom"], out, csv_dir=tree["jpg"], workers=1, limit=1)
    monkeypatch.setattr(mimic, "PREPROCESSING_VERSION", 2)
    prepare_mimic(tree["dicom"], out, csv_dir=tree["jpg"], workers=1, limit=1)
    assert load_dataset(f"mimic-cxr:{out}").table["frontal"][0].startswith("images/v2/")
    assert len(list((out / "images" / "v2").rglob("*.png"))) == 2


def test_jpgs_need_allow_jpg_and_say_what_they_are(tree, tmp_path):
    with pytest.raises(MimicError, match="8 of the images are JPGs.*--allow-jpg"):
        plan_mimic(tree["jpg"], reports=tree["dicom"])
    manifest = prepare_mimic(tree["jpg"], tmp_path / "out", reports=tree["dicom"], allow_jpg=True, workers=1)
    meta = json.loads(manifest.with_suffix(".json").read_text())
    assert list(meta["preprocessing"]) == ["jpg"] and "histogram-equalised" in meta["preprocessing"]["jpg"]
    assert "the paper used the DICOMs" in meta["warnings"][0]
    ds = load_dataset(f"mimic-cxr:{tmp_path / 'out'}")
    assert set(ds.table["lateral_format"]) == {"jpg"}
    grey = STORED_VALUE * 255 // 4095
    assert np.isclose(ds.load(1).frontal[128, 128], grey / 255, atol=2 / 255)  # JPEG is lossy


def test_unreadable_images_fail_fast_or_are_listed(tree, tmp_path):
    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(tree["dicom"]), str(broken)], check=True)
    lateral = next((broken / "files" / "p10" / "p10000001" / "s50000001").glob(f"{dicom_id('50000001', 'b')}.dcm"))
    lateral.write_bytes(lateral.read_bytes()[:200])  # truncated: that study is dropped, the run goes on
    prepare_mimic(broken, tmp_path / "one", csv_dir=tree["jpg"], workers=1)
    assert load_dataset(f"mimic-cxr:{tmp_path / 'one'}").study_ids == ["50000002", "50000003", "50913680"]
    errors = pd.read_csv(tmp_path / "one" / "errors.csv")
    assert len(errors) == 1 and dicom_id("50000001", "b") in errors["error"][0]
    for path in broken.rglob("*.dcm"):
        path.write_bytes(b"not a dicom")
    with pytest.raises(MimicError, match="8 of 8 sample images could not be decoded"):
        prepare_mimic(broken, tmp_path / "none", csv_dir=tree["jpg"], workers=1)
    assert len(pd.read_csv(tmp_path / "none" / "errors.csv")) == 8
    assert not (tmp_path / "none" / "manifest.csv").exists()


def test_a_missing_decoder_names_the_extra(tree):
    """Without GDCM (hidden from the import system in a fresh interpreter) JPEG lossless cannot be decoded."""
    path = next((tree["dicom"] / "files" / "p10" / "p10000002" / "s50000003").glob("*.dcm"))
    code = ("import sys; sys.modules['gdcm'] = None\n"
            "from xgem_bench.data.images import load_image, ImageReadError\n"
            f"try:\n    load_image({str(path)!r})\nexcept ImageReadError as error:\n    print(error)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "no decoder is installed" in result.stdout and "pip install 'xgem-bench[dicom]'" in result.stdout
    assert load_image(path).max() > 0  # with GDCM it decodes


def test_cli_prepare_and_info(tree, tmp_path):
    from xgem_bench.cli import app

    runner = CliRunner()
    args = ["data", "prepare-mimic", str(tree["dicom"]), str(tmp_path / "cli"), "--csv-dir", str(tree["jpg"]),
            "--views", "all", "--report-section", "conclusion", "--workers", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "views=all report_section=conclusion: 13 rows (13 written), 6 studies, 13 images" in result.output
    assert "excluded views: AP AXIAL=1, PA LLD=1, SWIMMERS=1, XTABLE LATERAL=1" in result.output
    assert "not published" in result.output
    result = runner.invoke(app, ["data", "info", f"mimic-cxr:{tmp_path / 'cli'}", "--check-files"])
    assert result.exit_code == 0 and "missing image files: 0" in result.output
    result = runner.invoke(app, ["data", "prepare-mimic", str(tree["dicom"]), str(tmp_path / "x")])
    assert result.exit_code == 2 and "--csv-dir" in result.output
    result = runner.invoke(app, ["data", "prepare-mimic", str(tree["dicom"]), str(tmp_path / "x"), "--split",
                                 "holdout", "--split-file", str(tmp_path)])
    assert result.exit_code == 2 and "--split-file replaces --split" in result.output


def test_real_radiographs_through_the_mimic_pipeline(shared_images, tmp_path, dicom_writer):
    """Real PA + lateral JPGs (Radiopaedia) as a MIMIC-CXR-JPG study, and the PA re-encoded as a 12-bit
    MONOCHROME1 DICOM at a non-standard spacing: the DICOM path must give back the same picture."""
    root = tmp_path / "mimic"
    folder = root / "files" / "p19" / "p19000001" / "s59000001"
    folder.mkdir(parents=True)
    original = shared_images / "radiopaedia" / "original"
    Image.open(original / "covid-19-pneumonia-7-PA.jpg").save(folder / "pa.jpg")
    Image.open(original / "covid-19-pneumonia-7-L.jpg").save(folder / "lat.jpg")
    folder.with_suffix(".txt").write_text(" FINAL REPORT\n IMPRESSION:  Bilateral peripheral opacities.\n")
    pd.DataFrame([{"dicom_id": "pa", "subject_id": "19000001", "study_id": "59000001", "ViewPosition": "PA"},
                  {"dicom_id": "lat", "subject_id": "19000001", "study_id": "59000001", "ViewPosition": "LATERAL"}]
                 ).to_csv(root / "mimic-cxr-2.0.0-metadata.csv", index=False)
    pd.DataFrame([{"dicom_id": d, "study_id": "59000001", "subject_id": "19000001", "split": "test"}
                  for d in ("pa", "lat")]).to_csv(root / "mimic-cxr-2.0.0-split.csv", index=False)
    ds = load_dataset(f"mimic-cxr:{prepare_mimic(root, tmp_path / 'out', allow_jpg=True, workers=1).parent}")
    study = ds.load(0)
    assert study.report == "Bilateral peripheral opacities." and study.frontal.std() > 0.1

    grey = np.asarray(Image.open(original / "covid-19-pneumonia-7-PA.jpg").convert("L"), dtype=np.float64)
    stored = np.round(4095 - grey / 255 * 4095).astype(np.uint16)  # MONOCHROME1: dense = dark in storage
    dicom = dicom_writer(tmp_path / "real.dcm", stored, photometric="MONOCHROME1", spacing=(0.2, 0.2))
    from_dicom, from_jpeg = load_image(dicom), load_image(original / "covid-19-pneumonia-7-PA.jpg")
    assert np.abs(from_dicom - from_jpeg).mean() < 0.01  # same radiograph after inversion, resampling, padding
    with pytest.raises(ImageReadError):
        load_image(tmp_path / "absent.dcm")


def test_split_note_when_the_official_weights_meet_mimic():
    # the xgem adapter's checkpoint id for checkpoint=official is "xgem-official=<checksum>"
    assert "not published" in mimic.split_note("mimic-cxr", [None, "xgem-official=ab12"])
    assert mimic.split_note("mimic-cxr", ["tiny-3f2a"]) is None
    assert mimic.split_note("demo (synthetic phantoms)", ["xgem-official=ab12"]) is None


def test_allow_incomplete_keeps_studies_missing_a_view_or_a_text(tree, tmp_path):
    plan = _plan(tree, require_both=False).set_index("study_id")
    assert len(plan) == 10  # every study with a frontal or lateral image on disk
    assert plan.loc["50000005", "lateral_dicom"] == "" and plan.loc["50000005", "frontal_format"] == "dicom"
    assert plan.loc["50000006", "frontal_dicom"] == "" and plan.loc["50000011", "frontal_dicom"] == ""
    assert (plan.loc["50000004", ["report", "report_section"]] == ["", "none"]).all()  # no report file
    assert plan.loc["50000007", "report_section"] == "none"  # findings only, impression asked
    rows = _plan(tree, require_both=False, views="all")
    assert len(rows) == 18 and (rows.loc[rows["mimic_study_id"] == "50000005", "lateral_dicom"] == "").all()
    bad = tmp_path / "ids.csv"
    bad.write_text("id,note\n50000001,x\n")
    with pytest.raises(MimicError, match="needs a dicom_id, study_id or subject_id column"):
        _plan(tree, split="file", split_file=bad)


def test_a_failing_sample_stops_the_run_before_the_other_images(tmp_path):
    root, metadata = tmp_path / "src", []
    for index in range(10):
        subject, study = f"{12000000 + index}", f"{52000000 + index}"
        folder = root / "files" / "p12" / f"p{subject}" / f"s{study}"
        folder.mkdir(parents=True)
        folder.with_suffix(".txt").write_text(" FINAL REPORT\n IMPRESSION:  Clear.\n")
        for name, view in (("a", "PA"), ("b", "LATERAL")):
            (folder / f"{dicom_id(study, name)}.dcm").write_bytes(b"\0" * 300)  # no DICM marker: not a DICOM
            metadata.append({"dicom_id": dicom_id(study, name), "subject_id": subject, "study_id": study,
                             "ViewPosition": view})
    pd.DataFrame(metadata).to_csv(root / "mimic-cxr-2.0.0-metadata.csv", index=False)
    pd.DataFrame(metadata).assign(split="test").to_csv(root / "mimic-cxr-2.0.0-split.csv", index=False)
    with pytest.raises(MimicError, match="16 of 16 sample images .* before the other 4"):
        prepare_mimic(root, tmp_path / "out", workers=1)
    assert len(pd.read_csv(tmp_path / "out" / "errors.csv")) == 16  # the other 4 were never decoded
