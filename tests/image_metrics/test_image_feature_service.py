"""Issue 14 §3: the runner's feature service runs the XRV DenseNet once per generated frontal for fid-xrv,
xrv-classification and hamming together (each metric ran it on its own before: three passes), and the numbers are
those of the three metrics scoring the same outputs each with its own backbone."""
import json
from pathlib import Path

import numpy as np
import pytest

from xgem_bench.cache import GenerationCache, study_seed
from xgem_bench.data import load_dataset
from xgem_bench.metrics import MetricContext, Sample, get_metric_class
from xgem_bench.metrics.backbones import XRVBackbone
from xgem_bench.run_arguments import eligible
from xgem_bench.runner import run
from xgem_bench.tasks import Modality, parse_task

METRICS = ("fid-xrv", "xrv-classification", "hamming")
REAL_XRV = {"variant": "all"}  # on the demo the XRV metrics default to the demo backbone


@pytest.fixture
def densenet_images(monkeypatch):
    """Counts the images that go through the XRV DenseNet."""
    seen = []
    features = XRVBackbone._features

    def counting(self, x):
        seen.append(len(x))
        return features(self, x)

    monkeypatch.setattr(XRVBackbone, "_features", counting)
    return seen


@pytest.mark.slow
def test_one_densenet_pass_per_generated_frontal_with_the_numbers_of_separate_passes(xrv_weights, tmp_path,
                                                                                     densenet_images):
    xrv_weights("all")
    n = 3  # batches of 2 and 1
    result = run("L->F+T", models=["oracle"], metrics=list(METRICS), limit=n, batch_size=2, out=tmp_path / "results",
                 cache_dir=tmp_path / "cache", progress=False, device="cpu",
                 metric_options={name: REAL_XRV for name in METRICS})
    # n generated frontals, once for the three metrics; the n real frontals of the FID reference set are the oracle's
    # outputs, same bytes, so their features are read back from the feature cache (by image content)
    assert sum(densenet_images) == n
    (backbone_images,) = result.results["timings"]["backbone_images"].values()
    (cached_images,) = result.results["timings"]["backbone_images_cached"].values()
    assert backbone_images == n and cached_images == n
    stored = json.loads((Path(result.run_dir) / "results.json").read_text())["models"]["oracle"]
    assert {k: m["status"] for k, m in stored["metrics"].items()} == {
        "fid-xrv/F": "ok", "xrv-classification/F": "ok", "hamming/joint": "ok"}

    # the same outputs scored by each metric on its own (its own backbone and passes, as before the service)
    task, dataset = parse_task("L->F+T"), load_dataset("demo")
    chosen = eligible(dataset, task, "test")[0][:n]
    cache = GenerationCache.existing(Path(stored["cache_folder"]))
    samples = []
    for i in chosen:
        study = dataset.load(int(i), task.modalities)
        samples.append(Sample(study, cache.load(study.study_id, study_seed(result.results["seed"], study.study_id))))
    densenet_images.clear()
    for key, record in stored["metrics"].items():
        name, modality = record["metric"], None if key.endswith("/joint") else Modality.FRONTAL
        context = MetricContext(task=task, modality=modality, dataset=dataset, split="test",
                                reference_indices=chosen, cache_dir=tmp_path / "own-cache", batch_size=2)
        metric = get_metric_class(name)(context, **REAL_XRV)
        metric.update(samples)
        own = metric.compute()
        assert own.keys() == record["values"].keys()
        for value_key, value in own.items():  # identical numbers, not merely close
            stored_value = record["values"][value_key]
            assert value == stored_value or (np.isnan(value) and np.isnan(stored_value)), (key, value_key)
    assert sum(densenet_images) == 3 * n + n  # three passes over the generated frontals, one over the real ones

    # a second run over the same outputs with the same backbone: every feature from the on-disk cache, same numbers
    densenet_images.clear()
    again = run("L->F+T", models=["oracle"], metrics=list(METRICS), limit=n, batch_size=2, out=tmp_path / "results",
                cache_dir=tmp_path / "cache", progress=False, device="cpu",
                metric_settings={name: REAL_XRV for name in METRICS})
    assert sum(densenet_images) == 0 and sum(again.results["timings"]["backbone_images"].values()) == 0
    assert sum(again.results["timings"]["backbone_images_cached"].values()) >= n
    for key, record in stored["metrics"].items():
        values = again.results["models"]["oracle"]["metrics"][key]["values"]
        assert values.keys() == record["values"].keys()
        for value_key, value in values.items():  # identical numbers (NaN where an AUC is undefined on 3 studies)
            assert value == record["values"][value_key] or (np.isnan(value) and np.isnan(record["values"][value_key]))


class _SummaryBackbone:
    """A stand-in backbone: three summary numbers per image, counting the images it runs on."""

    name, dim, device, channels_last, weight = "summary", 3, "cpu", False, "xrv-densenet-all"

    def __init__(self, scale=1.0):
        self.scale, self.images = scale, 0

    @property
    def signature(self):
        return f"summary|scale:{self.scale}"

    def features(self, images):
        self.images += len(images)
        return np.stack([[im.mean(), im.std(), im.max() * self.scale] for im in images]).astype(np.float32)


def test_features_kept_on_disk_until_a_setting_the_weights_or_the_image_change(tmp_path, monkeypatch):
    from xgem_bench import weights
    from xgem_bench.features import FeatureService
    checksum = {"value": "a" * 64}
    def verify(name):
        if checksum["value"] is None:
            raise weights.WeightsMissing(f"{name} is not here")
        return checksum["value"]

    monkeypatch.setattr(weights, "verify", verify)
    rng = np.random.default_rng(0)
    images = [rng.random((16, 16), dtype=np.float32) for _ in range(5)]
    keys = [("generated", f"s{i}", "F") for i in range(5)]

    def features(backbone, batch=images, batch_keys=keys):
        return FeatureService(2, tmp_path / "features").features(backbone, batch, batch_keys)

    first = _SummaryBackbone()
    cold = features(first)
    assert first.images == 5
    warm_backbone = _SummaryBackbone()
    warm = features(warm_backbone)
    assert warm_backbone.images == 0 and np.array_equal(warm, cold)  # a new service, a new run: from disk
    assert np.array_equal(FeatureService(2, tmp_path / "features").features(_SummaryBackbone(), images), cold)

    other_setting = _SummaryBackbone(scale=2.0)
    assert not np.array_equal(features(other_setting), cold) and other_setting.images == 5
    checksum["value"] = "b" * 64  # other weights under the same name
    new_weights = _SummaryBackbone()
    features(new_weights)
    assert new_weights.images == 5
    edited = [*images[:4], images[4] + np.float32(0.5)]  # one generated image changed
    partly = _SummaryBackbone()
    result = features(partly, edited)
    assert partly.images == 1 and np.array_equal(result[:4], cold[:4]) and not np.array_equal(result[4], cold[4])

    checksum["value"] = None  # a backbone without its catalog weight in place is never stored
    unkeyed = FeatureService(2, tmp_path / "unkeyed")
    unkeyed.features(_SummaryBackbone(), images, keys)
    assert not (tmp_path / "unkeyed").exists()
