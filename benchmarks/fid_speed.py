"""FID speed and memory (run by hand; prints ratios measured in one run).

    .venv/bin/python benchmarks/fid_speed.py [--dim 2048] [--repeats 3] [--small 2000] [--large 20000]

1. Fréchet distance at `dim` dimensions: `xgem_bench.metrics.fid.frechet_distance` versus pytorch-fid's
   `calculate_frechet_distance` (scipy sqrtm) on the same statistics (covariances of 3*dim random correlated samples).
2. Peak memory of the FID metric (fid-xrv, its real update/compute/reference-cache/artefact code) over `small` versus
   `large` studies, generated and reference sets of that size. The network is replaced by random features so the
   run takes seconds; what is measured is everything the metric keeps (tracemalloc peak, numpy included), with and
   without the per-study features artefact.
"""
from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np


def statistics(dim: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3 * dim, dim)) @ (np.eye(dim) + 0.1 * rng.standard_normal((dim, dim)))
    return x.mean(0), np.cov(x, rowvar=False)


def time_distance(dim: int, repeats: int) -> tuple[float, float, float, float]:
    from pytorch_fid.fid_score import calculate_frechet_distance

    from xgem_bench.metrics.fid import frechet_distance
    (mu1, s1), (mu2, s2) = statistics(dim, 0), statistics(dim, 1)
    ours, theirs = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        value_ours = frechet_distance(mu1, s1, mu2, s2)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value_theirs = calculate_frechet_distance(mu1, s1, mu2, s2)
        theirs.append(time.perf_counter() - start)
    return min(ours), min(theirs), value_ours, value_theirs


def peak_memory(n: int, artifacts: bool, folder: Path) -> float:
    from xgem_bench.data.dataset import InMemoryDataset
    from xgem_bench.data.study import Study
    from xgem_bench.metrics import MetricContext, Sample, get_metric_class
    from xgem_bench.tasks import Modality, parse_task

    tiny = np.zeros((1, 1), np.float32)
    studies = [Study(study_id=f"s{i}", frontal=tiny) for i in range(n)]
    dataset = InMemoryDataset(studies, name=f"bench-{n}")
    context = MetricContext(task=parse_task("T->F"), modality=Modality.FRONTAL, dataset=dataset,
                            reference_indices=np.arange(n), cache_dir=folder / f"cache-{n}-{artifacts}",
                            artifact_dir=(folder / f"artifacts-{n}") if artifacts else None, batch_size=64)
    metric = get_metric_class("fid-xrv")(context)
    rng = np.random.default_rng(0)
    metric.backbone.features = lambda images: rng.random((len(images), metric.backbone.dim), np.float32)
    tracemalloc.start()
    for start in range(0, n, 64):
        metric.update([Sample(s, {Modality.FRONTAL: tiny}) for s in studies[start:start + 64]])
    metric.compute()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2 ** 20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=20000)
    args = parser.parse_args()

    ours, theirs, v_ours, v_theirs = time_distance(args.dim, args.repeats)
    print(f"Frechet distance, d={args.dim}: ours {ours:.3f} s, pytorch-fid {theirs:.3f} s -> {theirs / ours:.1f}x "
          f"faster (values {v_ours:.6f} vs {v_theirs:.6f}, relative difference {abs(v_ours / v_theirs - 1):.2e})")

    with tempfile.TemporaryDirectory() as tmp:
        for artifacts in (False, True):
            small, large = (peak_memory(n, artifacts, Path(tmp)) for n in (args.small, args.large))
            print(f"FID metric peak memory ({'with' if artifacts else 'without'} the features artefact): "
                  f"{args.small} studies {small:.1f} MiB, {args.large} studies {large:.1f} MiB "
                  f"-> ratio {large / small:.2f}")


if __name__ == "__main__":
    main()
