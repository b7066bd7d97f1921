"""Overhead of the subprocess-adapter protocol per study: write inputs + manifest, launch the driver interpreter,
read outputs back, with a driver that does no model work (copies its input image to its output).

    .venv/bin/python benchmarks/subprocess_protocol.py [--batch-sizes 1 8 32] [--repeats 3]

Prints seconds per batch and per study. The launch of the interpreter dominates small batches; a real driver
adds its own import and model-loading time once per batch (per stage), which is why subprocess adapters want large
batches (`xgem-bench run --batch-size`).
"""
import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from xgem_bench.adapters.base import AdapterContext
from xgem_bench.adapters.subprocess_protocol import DRIVERS_DIR, SubprocessAdapter
from xgem_bench.data.study import Study
from xgem_bench.tasks import parse_task

COPY_DRIVER = '''
from _driver_protocol import run

def generate(batch):
    batch.each_study(lambda s: batch.write_image(s, "F", batch.image(s, "L")))

run({"generate": generate})
'''


class CopyAdapter(SubprocessAdapter):
    name = "copy"
    tasks = ("L->F",)
    driver = "copy_driver.py"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        drivers, repo = Path(tmp) / "drivers", Path(tmp) / "repo"
        drivers.mkdir()
        repo.mkdir()
        shutil.copy(DRIVERS_DIR / "_driver_protocol.py", drivers)
        (drivers / "copy_driver.py").write_text(COPY_DRIVER)
        adapter = CopyAdapter(repo=str(repo), python=sys.executable)
        adapter.driver_path = lambda: drivers / "copy_driver.py"
        adapter.setup(AdapterContext(device="cpu"))
        rng = np.random.default_rng(0)
        task = parse_task("L->F")
        print(f"{'batch':>6} {'s/batch':>9} {'s/study':>9}")
        for size in args.batch_sizes:
            studies = [Study(study_id=f"s{i}", lateral=rng.random((256, 256), dtype=np.float32))
                       for i in range(size)]
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                out = adapter.generate(studies, task, list(range(size)))
                times.append(time.perf_counter() - t0)
                assert all(isinstance(o, dict) for o in out)
            best = min(times)
            print(f"{size:>6} {best:>9.3f} {best / size:>9.4f}")


if __name__ == "__main__":
    main()
