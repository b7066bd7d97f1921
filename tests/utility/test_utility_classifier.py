"""The DenseNet-121 of the utility experiments: ImageNet weights read from a file in torchvision's published layout
(checked against torchvision's own loader), clear errors without them, and the training loop's early stopping and
resumption."""
import re

import numpy as np
import pytest
import torch

from xgem_bench import weights
from xgem_bench.utility import classifier as clf
from xgem_bench.utility import train as training
from xgem_bench.utility.data import LabelledImages
from xgem_bench.weights_catalog.utility import IMAGENET_DENSENET


def _old_layout(state: dict) -> dict:
    """torchvision's pre-0.3 key names (`norm.1` for `norm1`) and no BatchNorm `num_batches_tracked` (it came with
    torch 0.4.1), as in the published densenet121-a639ec97.pth."""
    return {re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", k): v for k, v in state.items()
            if not k.endswith("num_batches_tracked")}


@pytest.fixture
def imagenet_file(tmp_path, monkeypatch):
    """A random DenseNet-121 saved as the ImageNet file would be, where the weights manager looks for it."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    from torchvision.models import densenet121
    torch.manual_seed(3)
    state = _old_layout(densenet121(weights=None).state_dict())
    path = weights.get(IMAGENET_DENSENET).path
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    # torch.hub's name carries the first 8 hex of the file's sha256: give this file its own
    monkeypatch.setattr(clf, "IMAGENET_DENSENET_FILE", f"densenet121-{weights.sha256_of(path)[:8]}.pth")
    return state


def test_imagenet_init_matches_torchvisions_own_loader(imagenet_file):
    from torchvision.models import densenet121
    from torchvision.models.densenet import _load_state_dict

    class Published:  # what torchvision's loader asks of a WeightsEnum entry
        def get_state_dict(self, progress=True, check_hash=True):
            return dict(imagenet_file)

    reference = densenet121(weights=None)
    _load_state_dict(reference, Published(), progress=False)
    ours = clf.build_classifier(4, "imagenet")
    expected = {k: v for k, v in reference.state_dict().items() if not k.startswith("classifier.")}
    got = ours.net.state_dict()
    assert set(expected) <= set(got)
    for key, value in expected.items():
        assert torch.equal(got[key], value), key
    assert ours.net.classifier.out_features == 4


def test_imagenet_file_with_another_checksum_is_refused(imagenet_file, monkeypatch):
    monkeypatch.setattr(clf, "IMAGENET_DENSENET_FILE", "densenet121-00000000.pth")
    with pytest.raises(weights.WeightsMismatch, match="weights fetch torchvision-densenet121-imagenet"):
        clf.build_classifier(2, "imagenet")


def test_missing_imagenet_weights_name_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    with pytest.raises(weights.WeightsMissing, match="xgem-bench weights fetch torchvision-densenet121-imagenet"):
        clf.build_classifier(2, "imagenet")
    with pytest.raises(ValueError, match="init must be one of"):
        clf.build_classifier(2, "random")


def _set(n, seed, size=32):
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, 2)) < 0.5).astype(float)
    images = torch.as_tensor(rng.integers(0, 60, (n, size, size)), dtype=torch.uint8)
    images[:, 8:20, 8:20] += torch.as_tensor(labels[:, 0] * 150, dtype=torch.uint8)[:, None, None]
    return LabelledImages(images, labels, [f"s{i}" for i in range(n)])


def test_masked_loss_ignores_undefined_labels():
    logits = torch.tensor([[2.0, -1.0], [0.5, 3.0]], requires_grad=True)
    labels = torch.tensor([[1.0, float("nan")], [0.0, float("nan")]])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0], labels[:, 0])
    assert torch.isclose(training.masked_bce(logits, labels), expected)
    training.masked_bce(logits, torch.full((2, 2), float("nan"))).backward()  # no label: zero loss, still a graph


def test_early_stopping_keeps_the_best_epoch(tmp_path, monkeypatch):
    losses = iter([0.9, 0.5, 0.7, 0.8, 0.1])
    monkeypatch.setattr(training, "validation_loss", lambda *a, **k: next(losses))
    settings = training.TrainSettings(image_size=32, max_epochs=5, batch_size=8, patience=2)
    result = training.train_arm(_set(8, 0), _set(4, 1), _set(6, 2), settings, seed=0, folder=tmp_path / "arm",
                                progress=False)
    record = result["record"]
    assert (record["epochs"], record["best_epoch"], record["stopped_early"]) == (4, 2, True)
    assert result["probabilities"].shape == (6, 2)
    assert (tmp_path / "arm" / training.PREDICTIONS_FILE).exists() and (tmp_path / "arm" / training.BEST_FILE).exists()


@pytest.mark.slow
def test_a_killed_arm_resumes_to_the_same_classifier(tmp_path, monkeypatch):
    settings = training.TrainSettings(image_size=32, max_epochs=2, batch_size=4, patience=5)
    data = (_set(8, 0), _set(4, 1), _set(6, 2))
    whole = training.train_arm(*data, settings, seed=1, folder=tmp_path / "whole", progress=False)

    real_validation = training.validation_loss
    calls = []

    def killed_in_epoch_two(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process dies before epoch 2 is saved
        return real_validation(*args, **kwargs)

    monkeypatch.setattr(training, "validation_loss", killed_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        training.train_arm(*data, settings, seed=1, folder=tmp_path / "resumed", progress=False)
    assert (tmp_path / "resumed" / training.STATE_FILE).exists()
    monkeypatch.setattr(training, "validation_loss", real_validation)
    resumed = training.train_arm(*data, settings, seed=1, folder=tmp_path / "resumed", progress=False)
    assert [h["epoch"] for h in resumed["record"]["history"]] == [1, 2]
    np.testing.assert_allclose(resumed["probabilities"], whole["probabilities"], rtol=1e-5, atol=1e-6)
    again = training.train_arm(*data, settings, seed=1, folder=tmp_path / "resumed", progress=False)  # read back
    np.testing.assert_array_equal(again["probabilities"], resumed["probabilities"])
