"""Bootstrap cost per resample for the three kinds of statistic the tables resample (run by hand).

    .venv/bin/python benchmarks/bench_stats_bootstrap.py [--resamples 20]

Prints seconds per resample for: a mean over the paper's test-set size (33,588 studies), corpus BLEU from n-gram
counts (33,588 reports), and FID from cached features at several sizes (features redrawn with their real pair;\nbelow the feature dimension through the Gram matrix, above it through `frechet_distance`).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from xgem_bench import stats
from xgem_bench.metrics.bleu import corpus_scores
from xgem_bench.metrics.fid_resampling import fid_of_samples


def per_resample(data: stats.Resampleable, resamples: int) -> float:
    start = time.perf_counter()
    stats.bootstrap_ci(data, n_resamples=resamples)
    return (time.perf_counter() - start) / resamples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resamples", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = 33588
    ids = np.arange(n).astype(str)
    print(f"mean, n={n}: {per_resample(stats.mean_of(rng.random(n), ids), args.resamples) * 1e3:.2f} ms/resample")
    lengths = rng.integers(3, 40, size=n)
    totals = np.stack([np.maximum(lengths - k, 0) for k in range(4)], 1)
    matches = (totals * rng.uniform(0.1, 0.6, size=(n, 1))).astype(int)
    counts = np.concatenate([lengths[:, None], lengths[:, None] + 1, matches, totals], 1).astype(float)
    bleu = stats.Resampleable(ids, counts, lambda rows: float(corpus_scores(rows)[3]))
    print(f"corpus BLEU-4, n={n}: {per_resample(bleu, args.resamples) * 1e3:.2f} ms/resample")
    for size, dim in [(500, 2048), (1000, 1024), (2000, 2048), (5000, 1024)]:
        rows = rng.normal(size=(size, 2 * dim)).astype(np.float32).astype(np.float64)

        data = stats.Resampleable(np.arange(size).astype(str), rows,
                                  lambda r, d=dim: fid_of_samples(r[:, :d], r[:, d:]))
        seconds = per_resample(data, max(2, args.resamples // 5))
        print(f"FID, n={size}, d={dim}: {seconds:.2f} s/resample")


if __name__ == "__main__":
    main()
