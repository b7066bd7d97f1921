"""IU X-ray: reports from torchxrayvision's bundled XMLs, view pairing, a dataset over a user's PNG folder."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from xgem_bench.data import load_dataset
from xgem_bench.data.iuxray import IUXrayError, iu_image_views, pair_views, read_iu_reports
from xgem_bench.tasks import Modality


def test_reports_are_read_without_images():
    reports = read_iu_reports()
    assert len(reports) == 3955
    first = reports[0]
    assert first.uid == "CXR1" and first.impression == "Normal chest x-XXXX." and first.is_normal
    assert first.labels()["No Finding"] == 1.0 and first.labels()["Cardiomegaly"] == 0.0
    assert sum(bool(r.impression) for r in reports) > 3900
    cardiomegaly = [r for r in reports if "Cardiomegaly" in r.mesh_terms]
    assert len(cardiomegaly) > 300 and all(r.labels()["Cardiomegaly"] == 1.0 for r in cardiomegaly)


def test_view_pairing():
    views = {"a": "PA", "b": "LL", "c": "AP", "d": "LATERAL"}
    assert pair_views(("c", "a", "b"), views) == ("a", "b")  # PA before AP
    assert pair_views(("c", "b", "d"), views) == ("c", "d")  # LATERAL before LL
    assert pair_views(("a", "x"), views) == ("a", "x")  # the unrecorded one of two is the other view
    assert pair_views(("a", "c"), views) == ("a", None)
    real = iu_image_views()
    assert real["CXR1000_IM-0003-2001"] == "PA"


def test_dataset_over_a_png_folder(tmp_path):
    reports = {r.uid: r for r in read_iu_reports()}
    views = iu_image_views()
    report = next(r for r in reports.values() if r.impression and None not in pair_views(r.image_ids, views))
    frontal, lateral = pair_views(report.image_ids, views)
    Image.fromarray(np.full((400, 300), 90, np.uint8)).save(tmp_path / f"{frontal}.png")
    Image.fromarray(np.full((300, 400), 60, np.uint8)).save(tmp_path / f"{lateral}.png")
    ds = load_dataset(f"iu-xray:{tmp_path}")
    index = ds.study_ids.index(report.uid)
    assert ds.available(Modality.FRONTAL).sum() == 1 and ds.available(Modality.REPORT).sum() > 3900
    study = ds.load(index)
    assert study.report == report.impression and study.frontal.shape == (256, 256)
    assert np.isclose(study.lateral[128, 128], 60 / 255, atol=1e-5)
    assert set(ds.splits) == {"train", "validate", "test"} and not ds.synthetic
    assert "CC BY-NC-ND" in ds.meta["licence"]


def test_bad_folders(tmp_path):
    with pytest.raises(IUXrayError, match="needs the Open-i PNG folder"):
        load_dataset("iu-xray")
    with pytest.raises(IUXrayError, match="does not exist"):
        load_dataset(f"iu-xray:{tmp_path / 'nope'}")
    with pytest.raises(IUXrayError, match="no Open-i PNG"):
        load_dataset(f"iu-xray:{tmp_path}")
