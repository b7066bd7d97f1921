"""Issue 21: a run killed with SIGKILL (mid-batch, or while writing results) resumes under the same --run-id,
regenerates nothing that was cached, and ends with results.json and per_sample.csv that agree."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

CORE = Path(__file__).resolve().parent
# the child process: the counting adapter registered as in the tests, then the real runner;
# KILL_AFTER_WRITING=<file name> SIGKILLs the process right after the results store wrote that file
CHILD = """
import os, signal, sys
sys.path.insert(0, {core!r})
from xgem_bench.adapters import BUILTIN_ADAPTERS
BUILTIN_ADAPTERS["counting"] = "core_fixtures:CountingAdapter"
import xgem_bench.results as store
if os.environ.get("KILL_AFTER_WRITING"):
    write = store.atomic_write_text
    def write_then_die(path, text):
        write(path, text)
        if path.name == os.environ["KILL_AFTER_WRITING"]:
            os.kill(os.getpid(), signal.SIGKILL)
    store.atomic_write_text = write_then_die
from xgem_bench.runner import run
run("T->F", models=["counting"], dataset={manifest!r}, metrics=["pixel-mae"], out={out!r}, run_id="killed",
    cache_dir={cache!r}, batch_size=4, progress=False)
"""


def start(tmp_path, log, **env):
    code = CHILD.format(core=str(CORE), manifest=str(tmp_path / "m.csv"), out=str(tmp_path / "results"),
                        cache=str(tmp_path / "cache"))
    return subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "COUNTING_LOG": str(log), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def lines(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


@pytest.fixture
def manifest(tmp_path):
    rows = []
    for i in range(12):
        Image.fromarray(np.full((16, 16), 10 * i, np.uint8)).save(tmp_path / f"f{i}.png")
        rows.append({"study_id": f"s{i:02d}", "frontal": f"f{i}.png", "lateral": "", "report": f"report {i}"})
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)


def check_consistent(run_dir: Path) -> dict:
    results = json.loads((run_dir / "results.json").read_text())
    per_sample = pd.read_csv(run_dir / "per_sample.csv", dtype={"study_id": str})
    generation = pd.read_csv(run_dir / "generation.csv", dtype={"study_id": str})
    entry = results["models"]["counting"]
    assert entry["n_generated"] == 12 and (generation.status == "ok").sum() == 12
    assert sorted(per_sample.study_id) == [f"s{i:02d}" for i in range(12)]
    assert entry["metrics"]["pixel-mae/F"]["values"]["pixel_mae"] == pytest.approx(per_sample.value.mean())
    return results


@pytest.mark.slow
def test_sigkill_in_the_middle_of_a_batch_then_resume(tmp_path, manifest):
    log = tmp_path / "calls.log"
    child = start(tmp_path, log, COUNTING_DELAY="0.4")
    deadline = time.time() + 120
    while len(lines(log)) < 6 and time.time() < deadline:  # the second batch of four is half done
        assert child.poll() is None, child.communicate()
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    first = lines(log)
    assert 6 <= len(first) < 12
    cached = sorted(p.name.split("-")[0] for p in (tmp_path / "cache").rglob("*.npz"))
    assert cached == [f"s{i:02d}" for i in range(4)]  # the finished batch only: nothing half-written
    run_dir = tmp_path / "results" / "killed"
    assert not (run_dir / "results.json").exists()

    log.unlink()
    again = start(tmp_path, log)
    assert again.wait(timeout=300) == 0, again.communicate()
    assert lines(log) == [f"s{i:02d}" for i in range(4, 12)]  # the cached batch was not generated again
    check_consistent(run_dir)
    assert not list(run_dir.glob(".*")) and not list((tmp_path / "cache").rglob(".*.tmp-*"))


@pytest.mark.slow
def test_sigkill_while_results_are_written_then_resume(tmp_path, manifest):
    log = tmp_path / "calls.log"
    child = start(tmp_path, log, KILL_AFTER_WRITING="per_sample.csv")
    assert child.wait(timeout=300) == -signal.SIGKILL
    assert len(lines(log)) == 12
    run_dir = tmp_path / "results" / "killed"
    assert (run_dir / "per_sample.csv").exists() and not (run_dir / "results.json").exists()

    log.unlink()
    again = start(tmp_path, log)
    assert again.wait(timeout=300) == 0, again.communicate()
    assert lines(log) == []  # everything came from the cache
    check_consistent(run_dir)
