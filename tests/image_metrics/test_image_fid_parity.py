"""Whole Inception FID values against pytorch-fid's own file pipeline (`calculate_fid_given_paths`) on the same PNGs:
`xgem-bench fid A B` and the runner's fid-inception. pytorch-fid reads the same weights, placed under its official
file name in TORCH_HOME with the 1008-way classifier it loads but never uses for pool3 features."""
import json

import pytest
import torch
from typer.testing import CliRunner

from xgem_bench.adapters import BUILTIN_ADAPTERS
from xgem_bench.cli import app
from xgem_bench.runner import run

from image_fixtures import grey_images
from png_sets import N_IMAGES, png_dataset, write_png_set

pytestmark = pytest.mark.slow  # pytorch-fid's scipy sqrtm of a 2048x2048 matrix: the one expensive step, done once


def install_for_pytorch_fid(converted_inception, torch_home):
    from xgem_bench.weights_catalog.image_metrics import FID_INCEPTION_FILE
    state = torch.load(converted_inception, weights_only=True)
    state["fc.weight"], state["fc.bias"] = torch.zeros(1008, 2048), torch.zeros(1008)
    folder = torch_home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(state, folder / FID_INCEPTION_FILE)


@pytest.fixture(scope="module")
def png_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("pngs")
    return (write_png_set(root / "a", grey_images(N_IMAGES, size=64, seed=0)),
            write_png_set(root / "b", grey_images(N_IMAGES, size=80, seed=5)))


@pytest.fixture(scope="module")
def pytorch_fid_value(png_sets, converted_inception, tmp_path_factory):
    from pytorch_fid.fid_score import calculate_fid_given_paths
    torch_home = tmp_path_factory.mktemp("torch-home")
    install_for_pytorch_fid(converted_inception, torch_home)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_HOME", str(torch_home))
        return float(calculate_fid_given_paths([str(p) for p in png_sets], batch_size=50, device="cpu", dims=2048,
                                               num_workers=0))


def test_fid_command_equals_pytorch_fid(png_sets, pytorch_fid_value, inception_weights):
    a, b = png_sets
    result = CliRunner().invoke(app, ["fid", str(a), str(b), "--json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output[result.output.index("{"):])
    assert got["weights"] == "fid-inception-fid-helper" and got["n_a"] == got["n_b"] == N_IMAGES
    assert pytorch_fid_value > 10  # two different sets: a relative comparison means something
    assert got["fid"] == pytest.approx(pytorch_fid_value, rel=1e-5)


def test_runner_fid_inception_equals_pytorch_fid(png_sets, pytorch_fid_value, inception_weights, tmp_path,
                                                 monkeypatch):
    # reference set = the real frontals (set A), generated = set B, study by study
    a, b = png_sets
    monkeypatch.setitem(BUILTIN_ADAPTERS, "png-folder", "png_sets:PngFolderAdapter")
    result = run("T->F", models=["png-folder"], dataset=png_dataset(a), metrics=["fid-inception"],
                 model_settings={"png-folder": {"folder": str(b)}}, out=tmp_path / "out", cache_dir=tmp_path / "cache",
                 batch_size=4, progress=False, device="cpu").results
    record = result["models"]["png-folder"]["metrics"]["fid-inception/F"]
    assert record["status"] == "ok", record
    assert record["settings"]["weights"] == "fid-helper"
    assert record["values"]["n_generated"] == record["values"]["n_reference"] == N_IMAGES
    assert record["values"]["fid"] == pytest.approx(pytorch_fid_value, rel=1e-5)
