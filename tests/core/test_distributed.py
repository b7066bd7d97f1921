import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from core_fixtures import tiny_dataset
from launch import finish

from xgem_bench.adapters import BUILTIN_ADAPTERS
from xgem_bench.results import load_run
from xgem_bench.runner import run


@pytest.mark.distributed
@pytest.mark.slow
def test_torchrun_two_ranks_shard_and_match_a_single_process(tmp_path, monkeypatch):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(Path(__file__).parent / "dist_worker.py"), str(tmp_path / "out"), str(tmp_path / "cache")]
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    returncode, stdout, stderr = finish(process, timeout=300)
    assert returncode == 0, stderr[-3000:]
    assert stdout.count("rank done") == 2 and stdout.count("wrote=True") == 1

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
