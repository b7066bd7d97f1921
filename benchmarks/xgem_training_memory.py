"""Per-sample activation memory of each `paper` training stage, measured on the CPU, for `xgem-bench train --dry-run`.

Activation memory is what autograd saves for the backward pass; it is counted exactly (bytes of every tensor
saved, via torch.autograd.graph.saved_tensors_hooks, storages counted once, parameters excluded) during one forward
pass of each stage's trainable computation at batch 2, divided by 2, with and without gradient checkpointing. The
models run on torch's `meta` device: real shapes and dtypes, no arithmetic, so paper size takes seconds (text-vae
runs with real tensors on the CPU, about a minute: transformers' mask preparation reads values); the figures
are device-independent in fp32 (a GPU saves the same tensors). With gradient checkpointing, the block inputs that
torch.utils.checkpoint keeps outside autograd's saved tensors are not counted: that figure is a lower bound.
Prints the table that reference_model/plan.py records.

    python benchmarks/xgem_training_memory.py
"""
from __future__ import annotations

import json
import time

import torch


def main() -> None:
    from xgem_bench.reference_model.config import paper_config
    from xgem_bench.reference_model.plan import measure_stage_activations

    torch.manual_seed(0)
    config = paper_config()
    started = time.time()
    result = {}
    for stage in ("ldm-image", "ldm-report", "clip", "align", "text-vae"):
        t = time.time()
        result[stage] = measure_stage_activations(stage, config)
        print(f"{stage}: {json.dumps(result[stage])}  ({time.time() - t:.0f} s)", flush=True)
    print(json.dumps(result, indent=1))
    print(f"total {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
