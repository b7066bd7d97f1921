"""The utility experiment under torchrun (two CPU processes, gloo): generation sharded by the runner, each batch split
across the processes, one results file."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from launch import finish


@pytest.mark.distributed
@pytest.mark.slow
def test_two_processes_train_and_write_once(tmp_path):
    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here), str(here.parent)]), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(here / "utility_dist_worker.py"), str(tmp_path)]
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    returncode, stdout, stderr = finish(process, timeout=900)
    assert returncode == 0, stderr[-3000:]
    assert stdout.count("rank done, world=2") == 2
    results = json.loads((tmp_path / "two-ranks" / "utility.json").read_text())
    assert results["provenance"]["world_size"] == 2
    real, synthetic = results["arms"]["real"], results["arms"]["synthetic"]
    assert real["training"][0]["world_size"] == 2 and synthetic["n_synthetic"] == 24  # every prompt generated once
    assert real["per_seed"] == synthetic["per_seed"]  # the oracle's images: the same data, the same classifier
    generation = (tmp_path / "two-ranks" / "synthetic" / "anonymization" / "generation.csv").read_text().splitlines()
    assert len(generation) == 1 + 24
