"""Coverage of FID interval methods against a known truth (issue 11 §1), run by hand:

    OMP_NUM_THREADS=1 nice .venv/bin/python benchmarks/fid_interval_coverage.py [--replications 100] [--resamples 200]
        [--settings 32x160,32x640,128x640,128x2560] [--methods subsampling,extrapolated] [--json PATH]

Each study has a generated and a real feature vector (d dimensions): real ~ N(0, I), generated ~ N(mu, diag(s)) with
mu_i = 0.15 and sqrt(s_i) = 1 ± 0.15 (alternating), so the true Fréchet distance is analytic:
|mu|² + Σ (sqrt(s_i) - 1)² = 0.045·d. Per setting (d x N studies) and replication, the FID of the N paired rows is the
point (computed by `metrics.fid_resampling.fid_of_samples`, as the tables do) and every method of `xgem_bench.intervals` builds a
nominal 95% interval from the same rows. Printed per setting and method (Markdown):
- cover truth: share of intervals containing the analytic distance;
- cover E[FID_N]: share containing the mean point over the replications (the fixed-N target);
- has point: share containing their own reported FID (the point estimate);
- width, and the mean and RMS error (vs truth) of the point each method is centred on.
`--methods` runs a subset (the bootstrap methods share their draws; leaving them out halves the time at large N, and
changes the random draws, so a subset's replications are not those of a full run).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
from tqdm import tqdm

from xgem_bench import intervals
from xgem_bench.metrics.fid_resampling import fid_of_samples

SHIFT, SCALE_STEP = 0.15, 0.15


def truth_parameters(dim: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean, per-dimension SD of the generated features, and the analytic Fréchet distance to N(0, I)."""
    mu = np.full(dim, SHIFT)
    sd = 1 + SCALE_STEP * np.where(np.arange(dim) % 2 == 0, 1.0, -1.0)
    return mu, sd, float(mu @ mu + ((sd - 1) ** 2).sum())


def simulate(dim: int, n: int, replications: int, resamples: int, level: float = 0.95, seed: int = 0,
             methods: tuple[str, ...] = intervals.METHODS) -> dict:
    """Coverage of each interval method for one (d, N) setting."""
    mu, sd, truth = truth_parameters(dim)
    rng = np.random.default_rng([seed, dim, n])

    def statistic(rows: np.ndarray) -> float:
        return fid_of_samples(rows[:, :dim], rows[:, dim:])

    points, found = [], {m: [] for m in methods}
    for _ in tqdm(range(replications), desc=f"d={dim} N={n}", leave=False):
        rows = np.concatenate([mu + sd * rng.standard_normal((n, dim)), rng.standard_normal((n, dim))], axis=1)
        points.append(statistic(rows))
        for method, entry in intervals.intervals(statistic, rows, methods, resamples, level, rng).items():
            found[method].append((entry["low"], entry["high"], entry["estimate"]))
    points = np.array(points)
    expected = float(points.mean())
    rows_out = []
    for method in methods:
        low, high, estimate = np.array(found[method]).T
        rows_out.append({"method": method, "cover_truth": float(np.mean((low <= truth) & (truth <= high))),
                         "cover_expected": float(np.mean((low <= expected) & (expected <= high))),
                         "has_point": float(np.mean((low <= points) & (points <= high))),
                         "width": float(np.mean(high - low)), "estimate_mean": float(estimate.mean()),
                         "estimate_rmse": float(np.sqrt(np.mean((estimate - truth) ** 2)))})
    return {"dim": dim, "n": n, "truth": truth, "fid_mean": expected, "fid_sd": float(points.std(ddof=1)),
            "replications": replications, "resamples": resamples, "level": level, "seed": seed, "methods": rows_out}


def markdown(results: list[dict]) -> str:
    lines = ["| d | N | N/d | truth | mean FID | method | cover truth | cover E[FID_N] | has point | width | "
             "centre (mean) | centre RMSE |", "|" + "--:|" * 12]
    for r in results:
        for m in r["methods"]:
            lines.append(f"| {r['dim']} | {r['n']} | {r['n'] / r['dim']:g} | {r['truth']:.2f} | {r['fid_mean']:.2f} | "
                         f"{m['method']} | {m['cover_truth']:.2f} | {m['cover_expected']:.2f} | {m['has_point']:.2f} | "
                         f"{m['width']:.2f} | {m['estimate_mean']:.2f} | {m['estimate_rmse']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=100)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--settings", default="32x160,32x640,128x640,128x2560", help="d x N, comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default=",".join(intervals.METHODS), help="comma-separated interval methods")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    results = []
    start = time.perf_counter()
    for setting in args.settings.split(","):
        dim, n = (int(x) for x in setting.lower().split("x"))
        results.append(simulate(dim, n, args.replications, args.resamples, seed=args.seed,
                                methods=tuple(args.methods.split(","))))
        print(markdown(results[-1:]).split("\n", 2)[2], flush=True)
    print(markdown(results))
    print(f"\n{args.replications} replications x {args.resamples} resamples per setting, seed {args.seed}, "
          f"{time.perf_counter() - start:.0f} s")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
