"""Seconds per call of the feature-set image metrics on random 2048-d features (Inception's size), run by hand:

    nice .venv/bin/python benchmarks/feature_set_speed.py [--sizes 1000 2000 5000] [--dim 2048]

For each N (generated = reference = N rows): KID (torch-fidelity defaults: 100 subsets of 1000) with the whole-set
kernel matrices and, for comparison, torch-fidelity's own `kid_features_to_metric` on the same features; PRDC (k=5)
and the `prdc` package; CMMD (768-d unit rows, CLIP's size); FD∞ (5 subsets per size); and the cost of one
half-sample resample of KID and PRDC (what an interval pays per draw).
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def timed(function, *args, **kwargs) -> float:
    start = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - start


def main() -> None:
    import torch
    from prdc import compute_prdc
    from torch_fidelity.metric_kid import kid_features_to_metric

    from xgem_bench.metrics.cmmd import cmmd
    from xgem_bench.metrics.fd_infinity import fd_infinity
    from xgem_bench.metrics.kid import kid
    from xgem_bench.metrics.prdc import prdc

    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000])
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--skip-upstream", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"torch threads {torch.get_num_threads()}, d={args.dim}")
    for n in args.sizes:
        a, b = rng.standard_normal((n, args.dim)), rng.standard_normal((n, args.dim)) + 0.1
        line = [f"N={n}", f"kid {timed(kid, a, b):.2f}s"]
        if not args.skip_upstream:
            line.append("torch-fidelity kid %.2fs" % timed(
                kid_features_to_metric, torch.from_numpy(a.astype(np.float32)), torch.from_numpy(b.astype(np.float32)),
                kid_subsets=100, kid_subset_size=min(1000, n), kid_kernel="poly", kid_kernel_poly_degree=3,
                kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1, rng_seed=2020, verbose=False))
        line.append(f"prdc {timed(prdc, a, b, 5):.2f}s")
        if not args.skip_upstream:
            line.append(f"prdc package {timed(compute_prdc, a, b, 5):.2f}s")
        unit = lambda x: x[:, :768] / np.linalg.norm(x[:, :768], axis=1, keepdims=True)  # noqa: E731
        line.append(f"cmmd {timed(cmmd, unit(a), unit(b)):.2f}s")
        line.append(f"fd-infinity {timed(fd_infinity, a, b):.2f}s")
        half = rng.permutation(n)[: n // 2]
        line.append(f"resample: kid {timed(kid, a[half], b[half]):.2f}s prdc {timed(prdc, a[half], b[half]):.2f}s")
        print(", ".join(line), flush=True)


if __name__ == "__main__":
    main()
