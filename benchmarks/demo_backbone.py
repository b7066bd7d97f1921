"""The demo backbone: build time (wall and CPU) and how well it separates the phantom findings on held-out studies.

    XGEM_BENCH_CACHE=/tmp/somewhere .venv/bin/python benchmarks/demo_backbone.py [--threads 2]

Builds the weight as `make demo` does (through the weights manager, unless already built in that cache), then prints
the build's wall and CPU seconds (from the file), the operating thresholds, and per label the AUC and the positives
found at the operating point on the demo's test split (studies the backbone never saw).
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    from sklearn.metrics import roc_auc_score

    from xgem_bench import weights
    from xgem_bench.data import load_dataset
    from xgem_bench.data.study import PAPER_PATHOLOGIES
    from xgem_bench.metrics.demo_backbone import RECIPE, WEIGHT_NAME, _targets, build_info, demo_backbone

    backbone = demo_backbone()
    info = build_info(weights.require(WEIGHT_NAME))
    print(f"built in {info['build_seconds']:.0f} s wall, {info['build_cpu_seconds']:.0f} s CPU "
          f"({info['n_train']} training, {info['n_validate']} validation studies; torch threads "
          f"{torch.get_num_threads()})")
    data = load_dataset(f"demo:{RECIPE['demo']}")
    held_out = [data.load(int(i)) for i in data.indices("test")]
    start = time.perf_counter()
    scores = backbone.classify([s.frontal for s in held_out])
    print(f"classified {len(held_out)} held-out studies in {time.perf_counter() - start:.1f} s")
    truth = np.stack([_targets(s) for s in held_out])
    print(f"{'label':28s} {'threshold':>9s} {'pos':>4s} {'AUC':>6s} {'TP@op':>6s} {'FP@op':>6s}")
    for k, label in enumerate(PAPER_PATHOLOGIES):
        n_pos = int(truth[:, k].sum())
        auc = roc_auc_score(truth[:, k], scores[:, k]) if 0 < n_pos < len(truth) else float("nan")
        hit = scores[:, k] >= 0.5
        true_positives, false_positives = int((hit & (truth[:, k] == 1)).sum()), int((hit & (truth[:, k] == 0)).sum())
        print(f"{label:28s} {info['op_threshs'][k]:9.3f} {n_pos:4d} {auc:6.3f} {true_positives:6d} "
              f"{false_positives:6d}")


if __name__ == "__main__":
    main()
