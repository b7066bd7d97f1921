"""The demo backbone: the XRV interface on a demo-trained DenseNet-121, its weight file, and where it may be used.

Independent references: torchvision's own DenseNet-121 `forward` (features -> ReLU -> pool -> classifier) and
torchxrayvision's `op_norm`, run on the same prepared input as the backbone.
"""
import numpy as np
import pytest
import torch
import torchxrayvision as xrv

from xgem_bench import weights
from xgem_bench.data.dataset import InMemoryDataset
from xgem_bench.synthetic.demo import DEMO_NAME
from xgem_bench.data.study import PAPER_PATHOLOGIES, Study
from xgem_bench.metrics import get_metric_class
from xgem_bench.metrics.backbone_factory import make_backbone
from xgem_bench.metrics.demo_backbone import (DEMO_BACKBONE_LABEL, RECIPE, WEIGHT_NAME, DemoBackbone, make_network,
                                              max_f1_thresholds, recipe_key, xrv_names, xrv_settings_for)
from xgem_bench.metrics.xrv_classification import xrv_output_indices

THRESHOLDS = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.35, 0.45, 0.55]


@pytest.fixture
def random_demo_weight():
    """A randomly initialised network saved in the builder's file format, where the weights manager looks."""
    torch.manual_seed(0)
    net = make_network(xrv_names(), THRESHOLDS)
    path = weights.get(WEIGHT_NAME).path
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": net.state_dict(), "pathologies": xrv_names(), "op_threshs": THRESHOLDS,
                "recipe": RECIPE, "recipe_key": recipe_key()}, path)
    return net.eval()


def test_demo_backbone_matches_torchvision_densenet_and_xrv_op_norm(random_demo_weight, make_images):
    backbone = make_backbone("xrv", variant="demo")
    assert isinstance(backbone, DemoBackbone) and backbone.label == DEMO_BACKBONE_LABEL
    assert f"recipe:{recipe_key()}" in backbone.signature and "variant:demo" in backbone.signature
    assert backbone.signature.endswith("|thresholds:max-f1-held-out")
    images = make_images(3, size=80)
    features = backbone.features(images)
    assert features.shape == (3, 1024)
    x = backbone._scale(backbone._resize(backbone.prepare(images)))  # crop, resize to RECIPE size, [-1024, 1024]
    assert x.shape == (3, 1, RECIPE["size"], RECIPE["size"]) and float(x.min()) >= -1024 and float(x.max()) <= 1024
    with torch.inference_mode():
        logits = random_demo_weight(x)  # features -> ReLU -> global pool -> classifier, as torchvision's forward
        pooled = torch.nn.functional.adaptive_avg_pool2d(torch.relu(random_demo_weight.features(x)), 1).flatten(1)
    np.testing.assert_allclose(features, pooled.numpy(), rtol=1e-4, atol=1e-3)  # channels_last sums differ
    expected = xrv.models.op_norm(torch.sigmoid(logits), torch.tensor(THRESHOLDS))
    np.testing.assert_allclose(backbone.classify(images), expected.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(backbone.classify(images, op_norm=False), torch.sigmoid(logits).numpy(), rtol=1e-4,
                               atol=1e-5)
    # outputs are named as torchxrayvision names them, so the XRV label mapping applies unchanged
    assert xrv_output_indices(backbone.pathologies) == list(range(len(PAPER_PATHOLOGIES)))


def test_a_weight_of_another_recipe_is_refused(random_demo_weight, make_images):
    path = weights.get(WEIGHT_NAME).path
    saved = torch.load(path, weights_only=False)
    torch.save({**saved, "recipe_key": "0" * 12}, path)
    with pytest.raises(ValueError, match="another demo-backbone recipe"):
        make_backbone("xrv", variant="demo").features(make_images(2))
    assert recipe_key({**RECIPE, "epochs": RECIPE["epochs"] + 1}) != recipe_key()  # a changed recipe, a new file


def test_missing_weight_names_the_build_command():
    reason = get_metric_class("xrv-classification").unavailable_reason({"variant": "demo"})
    assert f"xgem-bench weights import {WEIGHT_NAME} --from-package xgem-bench" in reason
    assert weights.get(WEIGHT_NAME).filename.endswith(f"{recipe_key()}.pt")


def test_max_f1_thresholds_by_hand():
    # label 0 by hand, predicting positive at >= t: t=0.9 F1 0.5; 0.4 F1 0.8; 0.3 F1 0.667; 0.2 F1 6/7; 0.1 F1 0.75.
    # Youden's J would pick 0.4 (sensitivity 2/3, specificity 1), maximal F1 picks 0.2 (recall 1, precision 3/4)
    truth = np.array([[0, 1], [1, 1], [0, 1], [1, 1], [1, 1]], float)
    probs = np.array([[0.1, 0.2], [0.2, 0.4], [0.3, 0.5], [0.4, 0.8], [0.9, 0.9]])
    best, constant = max_f1_thresholds(truth, probs)
    assert best == pytest.approx(0.2) and constant == 0.5  # 0.5 where a label has no negatives


@pytest.mark.slow
def test_two_builds_give_identical_bytes(tmp_path):
    """The checksum recorded at the first build must accept a rebuilt copy: a tiny recipe, built twice into files of
    different names (torch.save would name its archive after the path), gives the same bytes, and the build leaves
    torch's thread count and determinism flag as it found them."""
    from xgem_bench.metrics.demo_backbone import build_weight
    tiny = {**RECIPE, "demo": "seed=0,n=30", "size": 32, "epochs": 1, "batch": 6}
    threads = torch.get_num_threads()
    build_weight(tmp_path / "one.pt", tiny)
    torch.set_num_threads(1 if threads > 1 else 2)  # another machine load must not matter
    build_weight(tmp_path / "other-name.pt", tiny)
    torch.set_num_threads(threads)
    assert (tmp_path / "one.pt").read_bytes() == (tmp_path / "other-name.pt").read_bytes()
    assert torch.get_num_threads() == threads and not torch.are_deterministic_algorithms_enabled()
    saved = torch.load(tmp_path / "one.pt", weights_only=False)
    assert saved["recipe"] == tiny and len(saved["op_threshs"]) == len(PAPER_PATHOLOGIES)


def _dataset(name: str, synthetic: bool) -> InMemoryDataset:
    image = np.zeros((8, 8), np.float32)
    return InMemoryDataset([Study(f"s{i}", frontal=image, report="x", split="test") for i in range(2)], name=name,
                           synthetic=synthetic)


@pytest.mark.parametrize("metric", ["fid-xrv", "xrv-classification", "hamming"])
def test_demo_backbone_is_the_default_on_the_demo_and_refused_elsewhere(metric):
    cls = get_metric_class(metric)
    assert xrv_settings_for(_dataset(DEMO_NAME, True), cls, {}) == {"variant": "demo"}
    assert xrv_settings_for(_dataset(DEMO_NAME, True), cls, {"variant": "all"}) == {"variant": "all"}
    real = _dataset("mimic-cxr", False)
    assert xrv_settings_for(real, cls, {}) == {}  # never chosen by itself on other data
    with pytest.raises(ValueError, match="demo phantoms.*--allow-demo-backbone"):
        xrv_settings_for(real, cls, {"variant": "demo"})
    assert xrv_settings_for(real, cls, {"variant": "demo"}, allow_demo_backbone=True) == {"variant": "demo"}
    # a synthetic set that is not the demo is not the demo
    with pytest.raises(ValueError, match="demo phantoms"):
        xrv_settings_for(_dataset("my phantoms", True), cls, {"variant": "demo"})
    assert xrv_settings_for(_dataset(DEMO_NAME, True), get_metric_class("fid-xrv-mimic"), {}) == {}


def test_runner_refuses_the_demo_backbone_on_other_data():
    from xgem_bench.runner import Runner
    real = _dataset("mimic-cxr", False)
    with pytest.raises(ValueError, match="demo phantoms"):
        Runner("L+T->F", models="oracle", dataset=real, metrics="xrv-classification",
               metric_settings={"xrv-classification": {"variant": "demo"}})
    runner = Runner("L+T->F", models="oracle", dataset=real, metrics="xrv-classification",
                    metric_settings={"xrv-classification": {"variant": "demo"}}, allow_demo_backbone=True)
    assert runner.resolved_metric_settings["xrv-classification"] == {"variant": "demo"}


@pytest.mark.slow
def test_a_small_recipe_separates_phantom_findings_on_held_out_studies():
    """Trained on the training split of a 150-study demo, the classifier ranks the held-out (test split) studies
    with cardiomegaly or pleural effusion above those without (the phantom draws exactly the labelled findings)."""
    from sklearn.metrics import roc_auc_score

    from xgem_bench.data import load_dataset
    from xgem_bench.metrics.demo_backbone import _targets, train_demo_backbone

    recipe = {**RECIPE, "demo": "seed=0,n=150", "epochs": 16}
    saved = train_demo_backbone(recipe, progress=False)
    net = make_network(saved["pathologies"], saved["op_threshs"])
    net.load_state_dict(saved["state_dict"])
    backbone = DemoBackbone()
    backbone.size, backbone._model = recipe["size"], net.eval()
    data = load_dataset(f"demo:{recipe['demo']}")
    held_out = [data.load(int(i)) for i in data.indices("test")]
    scores = backbone.classify([s.frontal for s in held_out])
    truth = np.stack([_targets(s) for s in held_out])
    # chance is 0.5; this one trains on 90 studies (measured 0.97 and 0.67 with recipe 1's single thread); the
    # shipped build (536 studies of another demo seed) is measured by benchmarks/demo_backbone.py
    for label, floor in (("Cardiomegaly", 0.7), ("Pleural Effusion", 0.6)):
        k = PAPER_PATHOLOGIES.index(label)
        assert 3 <= truth[:, k].sum() < len(truth) - 3
        auc = roc_auc_score(truth[:, k], scores[:, k])
        assert auc > floor, f"{label}: AUC {auc:.3f}"
