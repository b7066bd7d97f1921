import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from core_fixtures import labelled_dataset, tiny_dataset
from dist_worker_images import IMAGE_METRICS, IMAGE_MODELS
from launch import finish

from xgem_bench.adapters import BUILTIN_ADAPTERS
from xgem_bench.results import load_run
from xgem_bench.runner import run


@pytest.mark.distributed
@pytest.mark.slow
def test_torchrun_two_ranks_shard_and_match_a_single_process(tmp_path, monkeypatch):
    launch_two_ranks("dist_worker.py", tmp_path / "out", tmp_path / "cache", timeout=300)

    sharded = load_run(tmp_path / "out" / "sharded")
    assert sharded["provenance"]["world_size"] == 2
    generation = pd.read_csv(tmp_path / "out" / "sharded" / "generation.csv", dtype={"study_id": str})
    assert len(generation) == 3 * 40 and generation.groupby("model").study_id.nunique().eq(40).all()
    # each rank cached only its own shard; together they cover every study once
    monkeypatch.setitem(BUILTIN_ADAPTERS, "flaky", "core_fixtures:FlakyAdapter")
    single = run("L->F+T", models=["oracle", "shuffled", "flaky"], dataset=tiny_dataset(40), split="all",
                 out=tmp_path / "single", cache_dir=tmp_path / "cache2", batch_size=7, progress=False,
                 metrics=["pixel-mae", "token-f1", "bleu", "chexpert-f1"]).results
    assert sharded["models"]["flaky"]["diagnostics"] == {"studies_seen": 40}  # summed over the two ranks
    for model in ("oracle", "shuffled", "flaky"):
        a, b = sharded["models"][model], single["models"][model]
        assert a["n_generated"] == b["n_generated"] and a["n_failed"] == b["n_failed"]
        assert a.get("diagnostics") == b.get("diagnostics")
        assert set(a["metrics"]) == {"pixel-mae/F", "token-f1/T", "bleu/T", "chexpert-f1/T"}
        for key in a["metrics"]:
            assert a["metrics"][key]["values"] == pytest.approx(b["metrics"][key]["values"], rel=1e-12)


def launch_two_ranks(worker: str, *args, timeout: float = 600) -> str:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(Path(__file__).parent / worker), *map(str, args)]
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    returncode, stdout, stderr = finish(process, timeout=timeout)
    assert returncode == 0, stderr[-3000:]
    assert stdout.count("rank done") == 2 and stdout.count("wrote=True") == 1
    return stdout


@pytest.mark.distributed
@pytest.mark.slow
def test_torchrun_image_and_joint_metrics_match_a_single_process(tmp_path, monkeypatch):
    # FID, XRV classification and Hamming on a random XRV DenseNet in torchxrayvision's file format; coherence on a
    # tiny saved prompt encoder. Ranks merge sums / rows, so the values equal one process's up to float32 batching.
    import torch
    import torchxrayvision as xrv

    from tiny_encoder import save_tiny_encoder
    from xgem_bench import weights
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    weights.catalog.cache_clear()
    xrv_file = weights.get("xrv-densenet121-res224-all").path
    xrv_file.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(xrv.models.DenseNet(weights=None), xrv_file)
    encoder = tmp_path / "encoder"
    save_tiny_encoder(encoder)

    monkeypatch.setitem(BUILTIN_ADAPTERS, "flaky", "core_fixtures:FlakyAdapter")
    launch_two_ranks("dist_worker_images.py", tmp_path / "out", tmp_path / "cache", encoder)
    sharded = load_run(tmp_path / "out" / "sharded")
    assert sharded["provenance"]["world_size"] == 2
    single = run("L->F+T", models=IMAGE_MODELS, dataset=labelled_dataset(8), split="all",
                 out=tmp_path / "single", cache_dir=tmp_path / "cache2", batch_size=3, progress=False, device="cpu",
                 metrics=IMAGE_METRICS, metric_settings={"coherence-cosine": {"encoder": str(encoder)}}).results
    expected_keys = {"fid-xrv/F", "xrv-classification/F", "hamming/joint", "coherence-cosine/joint"}
    for model in IMAGE_MODELS:
        a, b = sharded["models"][model]["metrics"], single["models"][model]["metrics"]
        assert set(a) == set(b) and expected_keys <= set(a), sorted(a)
        for key in a:
            assert a[key]["status"] == b[key]["status"] == "ok", (key, a[key], b[key])
            for name, value in a[key]["values"].items():
                # FID of 8 images in 1024-d (rank-deficient): float32 features batched differently move it by up to
                # ~0.3 (the oracle's FID is 0 up to that noise), hence an absolute allowance; the rest agrees to 1e-5
                tolerance = {"rel": 1e-4, "abs": 1.0} if name == "fid" else {"rel": 1e-5, "abs": 1e-6}
                assert value == pytest.approx(b[key]["values"][name], nan_ok=True, **tolerance), (key, name)
    oracle, flaky = (sharded["models"][m]["metrics"]["fid-xrv/F"]["values"] for m in ("oracle", "flaky"))
    assert flaky["fid"] > 10.0, flaky["fid"]  # well above the allowance: the flaky comparison is a real one
    assert oracle["n_generated"] == 8
