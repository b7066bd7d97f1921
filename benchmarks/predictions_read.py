"""Cost of scoring outputs generated elsewhere, per study (run by hand):

    .venv/bin/python benchmarks/predictions_read.py [--n 500]

Writes N 16-bit 256x256 PNG predictions, then times what `run --predictions` adds before any metric: indexing the
folder, the sha256 checkpoint id over every file (once per run; it enters the cache key), and decoding one study
(what each uncached study costs; cached studies are read from the generation cache instead).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from xgem_bench.adapters.predictions import PredictionsAdapter
from xgem_bench.data.images import save_png
from xgem_bench.data.study import Study
from xgem_bench.tasks import parse_task


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    task = parse_task("T->F")
    with tempfile.TemporaryDirectory() as folder:
        for i in range(args.n):
            save_png(Path(folder) / f"s{i:06d}.png", rng.random((256, 256), dtype=np.float32))
        size = sum(p.stat().st_size for p in Path(folder).iterdir()) / 1e6
        adapter = PredictionsAdapter(path=folder)
        start = time.perf_counter()
        adapter.index(task)
        indexed = time.perf_counter() - start
        start = time.perf_counter()
        adapter.checkpoint_id()
        hashed = time.perf_counter() - start
        studies = [Study(f"s{i:06d}") for i in range(args.n)]
        start = time.perf_counter()
        adapter.generate(studies, task, [0] * args.n)
        decoded = time.perf_counter() - start
    print(f"{args.n} predictions ({size:.0f} MB): index {indexed * 1e3:.1f} ms, checksum {hashed:.2f} s "
          f"({size / hashed:.0f} MB/s), decode {decoded / args.n * 1e3:.2f} ms/study")


if __name__ == "__main__":
    main()
