"""DenseNet passes per generated frontal and wall time of a run with fid-xrv + xrv-classification + hamming
(issue 14 §3; run by hand, before and after the feature service, on the demo data with the oracle).

    XGEM_BENCH_CACHE=/tmp/cache-i14a nice .venv/bin/python benchmarks/feature_passes.py [--limit 16] [--batch-size 8]

Uses only the public `run` API and the XRV backbone's network call, so the same script measures an older checkout
(`PYTHONPATH=/path/to/old/checkout`). Two runs: a cold one (the FID reference set is extracted) and a warm one (the
reference statistics and the oracle's outputs come from the cache, so every DenseNet image is a generated frontal;
since the features are kept on disk between runs, `xgem_bench.features`, the warm run runs none at all). Use a fresh
XGEM_BENCH_CACHE (with the demo data and the demo backbone copied in) for each checkout measured.
On the demo the XRV metrics use the demo backbone (an `XRVBackbone`), which is what is counted.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import xgem_bench
from xgem_bench.metrics.backbones import XRVBackbone
from xgem_bench.runner import run

METRICS = ["fid-xrv", "xrv-classification", "hamming"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    images = []
    network = XRVBackbone._features

    def counting(self, x):
        images.append(len(x))
        return network(self, x)

    XRVBackbone._features = counting
    print(f"xgem_bench from {Path(xgem_bench.__file__).parent}")
    with tempfile.TemporaryDirectory() as out:
        for label in ("cold", "warm"):
            images.clear()
            start = time.perf_counter()
            result = run("L->F+T", models=["oracle"], metrics=METRICS, limit=args.limit, batch_size=args.batch_size,
                         out=out, run_id=label, progress=False, device="cpu")
            wall = time.perf_counter() - start
            entry = result.results["models"]["oracle"]
            statuses = {k: m["status"] for k, m in entry["metrics"].items()}
            print(f"{label}: {entry['n_generated']} generated frontals, {sum(images)} DenseNet images "
                  f"({sum(images) / entry['n_generated']:.2f} per generated frontal), wall {wall:.1f} s, "
                  f"metrics {statuses}, features read from disk "
                  f"{sum(result.results['timings'].get('backbone_images_cached', {}).values())}")
            if label == "warm":
                print("values:", {k: m.get("values", {}).get(m.get("primary")) for k, m in entry["metrics"].items()})


if __name__ == "__main__":
    main()
