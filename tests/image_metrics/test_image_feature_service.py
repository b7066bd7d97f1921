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
from xgem_bench.runner import _eligible, run
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
    # n generated frontals, once for the three metrics, + the n real frontals of the FID reference set
    assert sum(densenet_images) == 2 * n
    (backbone_images,) = result.results["timings"]["backbone_images"].values()
    assert backbone_images == 2 * n
    stored = json.loads((Path(result.run_dir) / "results.json").read_text())["models"]["oracle"]
    assert {k: m["status"] for k, m in stored["metrics"].items()} == {
        "fid-xrv/F": "ok", "xrv-classification/F": "ok", "hamming/joint": "ok"}

    # the same outputs scored by each metric on its own (its own backbone and passes, as before the service)
    task, dataset = parse_task("L->F+T"), load_dataset("demo")
    eligible = _eligible(dataset, task, "test")[0][:n]
    cache = GenerationCache.existing(Path(stored["cache_folder"]))
    samples = []
    for i in eligible:
        study = dataset.load(int(i), task.modalities)
        samples.append(Sample(study, cache.load(study.study_id, study_seed(result.results["seed"], study.study_id))))
    densenet_images.clear()
    for key, record in stored["metrics"].items():
        name, modality = record["metric"], None if key.endswith("/joint") else Modality.FRONTAL
        context = MetricContext(task=task, modality=modality, dataset=dataset, split="test",
                                reference_indices=eligible, cache_dir=tmp_path / "own-cache", batch_size=2)
        metric = get_metric_class(name)(context, **REAL_XRV)
        metric.update(samples)
        own = metric.compute()
        assert own.keys() == record["values"].keys()
        for value_key, value in own.items():  # identical numbers, not merely close
            stored_value = record["values"][value_key]
            assert value == stored_value or (np.isnan(value) and np.isnan(stored_value)), (key, value_key)
    assert sum(densenet_images) == 3 * n + n  # three passes over the generated frontals, one over the real ones
