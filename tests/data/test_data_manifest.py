"""The manifest dataset: columns, labels, root containment, lazy pixels, fingerprint."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from xgem_bench.data import load_dataset
from xgem_bench.data.images import ImageReadError
from xgem_bench.data.manifest import ManifestError, read_manifest
from xgem_bench.tasks import Modality


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "img").mkdir()
    Image.fromarray(np.full((300, 200), 100, np.uint8)).save(tmp_path / "img" / "f1.png")
    Image.fromarray(np.full((256, 256), 50, np.uint8)).save(tmp_path / "img" / "l1.png")
    Image.fromarray(np.full((256, 256), 70, np.uint8)).save(tmp_path / "img" / "f2.png")
    return tmp_path


def write(folder, rows, name="m.csv"):
    path = folder / name
    frame = pd.DataFrame(rows)
    frame.to_parquet(path) if name.endswith(".parquet") else frame.to_csv(path, index=False)
    return path


ROWS = [
    {"study_id": "001", "subject_id": "p1", "frontal": "img/f1.png", "lateral": "img/l1.png",
     "report": "No acute disease.", "Cardiomegaly": "1", "Edema": "", "split": "train"},
    {"study_id": "002", "subject_id": "p2", "frontal": "img/f2.png", "lateral": "", "report": "",
     "Cardiomegaly": "-1", "Edema": "0", "split": "test"},
]


@pytest.mark.parametrize("name", ["m.csv", "m.parquet"])
def test_reads_csv_and_parquet(folder, name):
    ds = load_dataset(f"manifest:{write(folder, ROWS, name)}")
    assert ds.study_ids == ["001", "002"]  # ids stay strings (no int coercion of "001")
    assert ds.splits == ["train", "test"]
    assert ds.available(Modality.LATERAL).tolist() == [True, False]
    assert ds.available(Modality.REPORT).tolist() == [True, False]
    study = ds.load(0)
    assert study.frontal.shape == (256, 256) and study.lateral.shape == (256, 256)
    # 300x200 frontal: zero-padded left/right to 300x300, then resized
    assert study.frontal[:, 0].max() == 0 and np.isclose(study.frontal[128, 128], 100 / 255, atol=1e-5)
    assert study.labels == {"Cardiomegaly": 1.0}
    second = ds.load(1)
    assert second.lateral is None and second.report is None
    assert second.labels == {"Cardiomegaly": -1.0, "Edema": 0.0}
    assert list(ds.indices("test")) == [1]


def test_bare_path_and_defaults(folder):
    rows = [{k: v for k, v in r.items() if k not in ("subject_id", "split")} for r in ROWS]
    ds = load_dataset(str(write(folder, rows)))
    assert ds.subject_ids == ["001", "002"] and ds.splits == ["test", "test"]


def test_pixels_are_not_read_until_load(folder):
    rows = [dict(ROWS[0], frontal="img/missing.png")]
    ds = read_manifest(write(folder, rows))
    assert ds.available(Modality.FRONTAL).tolist() == [True]
    assert ds.missing_files() == [folder / "img" / "missing.png"]
    with pytest.raises(ImageReadError, match="missing.png"):
        ds.load(0)


@pytest.mark.parametrize("path", ["../outside.png", "/etc/passwd", "img/../../x.png"])
def test_paths_escaping_the_root_are_refused(folder, path):
    with pytest.raises(ManifestError, match="escapes the manifest root"):
        read_manifest(write(folder, [dict(ROWS[0], frontal=path)]))


def test_explicit_root(folder, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("manifests")
    ds = read_manifest(write(elsewhere, ROWS), root=folder)
    assert ds.load(0).frontal is not None


def test_duplicate_ids_missing_columns_bad_labels(folder):
    with pytest.raises(ManifestError, match="duplicate study ids.*001"):
        read_manifest(write(folder, [ROWS[0], ROWS[0]]))
    with pytest.raises(ManifestError, match=r"missing required column\(s\) \['report'\]"):
        read_manifest(write(folder, [{k: v for k, v in ROWS[0].items() if k != "report"}]))
    with pytest.raises(ManifestError, match="'Cardiomegaly'.*yes"):
        read_manifest(write(folder, [dict(ROWS[0], Cardiomegaly="yes")]))
    with pytest.raises(ManifestError, match="'Cardiomegaly'.*2"):
        read_manifest(write(folder, [dict(ROWS[0], Cardiomegaly="2")]))
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(folder / "nope.csv")
    with pytest.raises(ManifestError, match="needs a path"):
        load_dataset("manifest")


def test_fingerprint_follows_content(folder):
    path = write(folder, ROWS)
    first = read_manifest(path).fingerprint()
    assert read_manifest(path).fingerprint() == first
    write(folder, [dict(ROWS[0], report="Cardiomegaly."), ROWS[1]])
    assert read_manifest(path).fingerprint() != first
    write(folder, ROWS)
    Image.fromarray(np.full((256, 256), 51, np.uint8)).save(folder / "img" / "l1.png", compress_level=0)
    assert read_manifest(path).fingerprint() != first  # file size/mtime changed


def test_hash_columns_make_fingerprint_copy_stable(folder, tmp_path_factory):
    rows = [dict(r, frontal_sha256=f"h{i}f", lateral_sha256=f"h{i}l") for i, r in enumerate(ROWS)]
    first = read_manifest(write(folder, rows)).fingerprint()
    copy = tmp_path_factory.mktemp("copy")
    import shutil
    shutil.copytree(folder / "img", copy / "img")
    assert read_manifest(write(copy, rows)).fingerprint() == first


def test_sidecar_sets_name_and_synthetic(folder):
    path = write(folder, ROWS)
    path.with_suffix(".json").write_text('{"name": "phantoms", "synthetic": true}')
    ds = read_manifest(path)
    assert ds.name == "phantoms" and ds.synthetic is True


def test_csv_with_byte_order_mark(folder):
    path = write(folder, ROWS)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # as spreadsheet programs save "CSV UTF-8"
    assert read_manifest(path).study_ids == ["001", "002"]
