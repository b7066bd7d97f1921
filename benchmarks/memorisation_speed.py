"""Speed of the memorisation searches, run by hand:

    nice .venv/bin/python benchmarks/memorisation_speed.py [--queries 1000] [--training 10000 50000] [--dim 2048]

Images: exact nearest-neighbour search of `--queries` unit rows among each `--training` count of unit rows
(`memorisation_image.nearest`: float32 products in blocks), seconds and queries per second; d=2048 is Inception,
4096 the 64x64 pixel space. Reports: building the n-gram index (n=4) of synthetic reports (Zipf-distributed words from
a 3,000-word vocabulary, 20-80 tokens, with the shared boilerplate phrases of real reports) and the time per
generated report, against a brute-force comparison with every training report on a small sample.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

BOILERPLATE = ["no acute cardiopulmonary process", "heart size is normal", "lungs are clear",
               "no pleural effusion or pneumothorax", "stable appearance of the chest"]


def synthetic_reports(count: int, rng: np.random.Generator) -> list[list[str]]:
    vocabulary = np.array([f"w{i}" for i in range(3000)])
    weights = 1.0 / np.arange(1, 3001)
    weights /= weights.sum()
    reports = []
    for _ in range(count):
        words = list(vocabulary[rng.choice(3000, size=rng.integers(20, 80), p=weights)])
        for phrase in rng.choice(BOILERPLATE, size=2, replace=False):
            at = int(rng.integers(0, len(words)))
            words[at:at] = phrase.split()
        reports.append(words)
    return reports


def main() -> None:
    from xgem_bench.metrics.memorisation_image import nearest, unit_rows
    from xgem_bench.metrics.memorisation_report import NgramIndex, ngrams

    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--training", type=int, nargs="+", default=[10000, 50000])
    parser.add_argument("--dim", type=int, nargs="+", default=[2048, 4096])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for dim in args.dim:
        queries = unit_rows(rng.standard_normal((args.queries, dim)))
        for m in args.training:
            index = unit_rows(rng.standard_normal((m, dim)))
            start = time.perf_counter()
            nearest(queries, index)
            seconds = time.perf_counter() - start
            print(f"images d={dim}: {args.queries} queries x {m} training: {seconds:.2f}s "
                  f"({args.queries / seconds:.0f} queries/s)", flush=True)
    for m in args.training:
        training = synthetic_reports(m, rng)
        start = time.perf_counter()
        index = NgramIndex(training, n=4)
        built = time.perf_counter() - start
        queries = synthetic_reports(args.queries, rng)
        start = time.perf_counter()
        for query in queries:
            index.closest(query)
        per_query = (time.perf_counter() - start) / len(queries)
        start = time.perf_counter()
        for query in queries[:5]:
            grams = ngrams(query, 4)
            max(len(grams & ngrams(t, 4)) for t in training)
        brute = (time.perf_counter() - start) / 5
        print(f"reports: index of {m} built in {built:.2f}s; {per_query * 1e3:.2f} ms per generated report "
              f"(brute force over every training report: {brute * 1e3:.0f} ms)", flush=True)


if __name__ == "__main__":
    main()
