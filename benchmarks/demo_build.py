"""Wall time of building the demo dataset (run by hand: .venv/bin/python benchmarks/demo_build.py [N] [SEED]).

Prints the time of each phase: reading the IU X-ray XMLs, choosing agreeing reports, planning, and rendering +
writing the phantoms, then the total. The demo must build in a few seconds on one CPU core."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from xgem_bench.synthetic import demo
from xgem_bench.data.iuxray import read_iu_reports
from xgem_bench.data.manifest import read_manifest


def main() -> None:
    n_studies = int(sys.argv[1]) if len(sys.argv) > 1 else demo.DEFAULT_STUDIES
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else demo.DEFAULT_SEED
    started = time.perf_counter()
    read_iu_reports()
    parsed = time.perf_counter()
    demo.usable_reports()
    chosen = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        manifest = demo.build_demo(Path(folder), seed, n_studies)  # re-plans (cached XML parse) and renders
        built = time.perf_counter()
        dataset = read_manifest(manifest)
        size = sum(p.stat().st_size for p in Path(folder).rglob("*.png"))
    print(f"studies={len(dataset)} seed={seed} fingerprint={dataset.fingerprint()}")
    print(f"parse IU XMLs      {parsed - started:6.2f} s")
    print(f"choose reports     {chosen - parsed:6.2f} s")
    print(f"plan+render+write  {built - chosen:6.2f} s  ({(built - chosen) / n_studies * 1000:.1f} ms/study, "
          f"{size / 2**20:.1f} MiB of PNG)")
    print(f"total              {built - started:6.2f} s")


if __name__ == "__main__":
    main()
