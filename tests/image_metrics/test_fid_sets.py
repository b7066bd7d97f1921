"""`xgem-bench fid` on part of a dataset (--split, --ids) and with a bootstrap interval (--ci).

The interval is checked against pytorch-fid's own `calculate_frechet_distance` on the same bootstrap draws.
"""
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from xgem_bench.cli import app
from xgem_bench.data import InMemoryDataset, Study
from xgem_bench.data.export import export_inputs
from xgem_bench.metrics.fid_resampling import two_sample_fid_ci

runner = CliRunner()


def test_two_sample_interval_matches_pytorch_fid_on_the_same_draws():
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(20, 3)), rng.normal(0.5, 1.3, size=(25, 3))
    interval = two_sample_fid_ci(a, b, n_resamples=40, level=0.9, seed=7)

    def fid(x, y):
        return calculate_frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))

    draws_rng = np.random.default_rng(7)  # half of each set without replacement (subsampling, issue 11 §1)
    draws = np.array([fid(a[draws_rng.choice(20, 10, replace=False)], b[draws_rng.choice(25, 12, replace=False)])
                      for _ in range(40)])
    value = fid(a, b)
    q_low, q_high = np.quantile(draws - value, [0.05, 0.95])  # the root's quantiles, reflected around the value
    assert (interval.low, interval.high) == pytest.approx((value - q_high, value - q_low), rel=1e-6)
    assert interval.estimate == pytest.approx(value - np.mean(draws - value), rel=1e-6)
    assert interval.value == pytest.approx(value, rel=1e-6) and interval.n_studies == 45
    with pytest.raises(ValueError, match="at least 4 images"):
        two_sample_fid_ci(a[:3], b)


@pytest.fixture
def manifest(tmp_path, make_images):
    images = make_images(8, size=256)  # the size datasets load at: folder and manifest pixels agree
    studies = [Study(f"s{i}", frontal=image, split="test" if i < 5 else "train") for i, image in enumerate(images)]
    return export_inputs(InMemoryDataset(studies), tmp_path / "set", split="all", progress=False)


def fid_json(*args):
    result = runner.invoke(app, ["fid", *map(str, args), "--backbone", "xrv", "--json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output[result.output.index("{"):])


@pytest.mark.slow
def test_split_and_ids_restrict_a_manifest_and_a_folder(xrv_weights, manifest):
    xrv_weights("all")
    folder = manifest.parent / "images" / "F"
    assert fid_json(manifest, folder)["n_a"] == 5  # the test split by default, not all 8 studies
    everything = fid_json(manifest, folder, "--split", "all")
    # same pixels both sides (16-bit PNG of 256x256 images): 0 up to float noise, different sets give thousands
    assert everything["n_a"] == everything["n_b"] == 8 and everything["fid"] == pytest.approx(0, abs=0.05)
    (manifest.parent / "ids.txt").write_text("study_id\ns1\ns3\ns4\n")
    chosen = fid_json(manifest, folder, "--ids", manifest.parent / "ids.txt")
    assert chosen["n_a"] == chosen["n_b"] == 3 and chosen["fid"] == pytest.approx(0, abs=0.05)
    unknown = runner.invoke(app, ["fid", str(manifest), str(folder), "--ids", "s1,s6", "--backbone", "xrv"])
    assert unknown.exit_code == 2 and "not in split 'test'" in unknown.output and "s6" in unknown.output


@pytest.mark.slow
def test_ci_option_adds_an_interval(xrv_weights, manifest):
    xrv_weights("all")
    result = fid_json(manifest, manifest.parent / "images" / "F", "--split", "all", "--ids", "s0,s1,s2,s3",
                      "--ci", "--resamples", "20")
    interval = result["interval"]
    assert interval["n_resamples"] == 20 and interval["low"] <= interval["high"]
    assert "features_a" not in result
    text = runner.invoke(app, ["fid", str(manifest), str(manifest), "--backbone", "xrv", "--ci", "--resamples", "5"])
    assert text.exit_code == 0 and "95% subsampling" in text.output and "5 resamples" in text.output
    assert "split test" in text.output
