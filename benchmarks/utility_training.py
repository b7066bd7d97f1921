"""Training throughput of the utility classifier (DenseNet-121, `xgem-bench utility ...`) on this machine (by hand).

    .venv/bin/python benchmarks/utility_training.py [--sizes 32 64 224] [--batch-size 16] [--images 64] [--epochs 2]
                                                    [--threads N]

Trains `train_arm` (the experiments' own loop: Adam step, masked BCE, validation pass, checkpoint) on random 8-bit
images at each size and prints training images/s (the loop's own per-epoch figure, first epoch excluded as warm-up
when there are several), the seconds per epoch, and the wall seconds per epoch of the whole loop (with the validation
pass and the checkpoint), with the torch thread count, device and load average. OpenMP waits passively, as under
`xgem-bench utility` (set before torch loads).
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import tempfile
from pathlib import Path

import numpy as np
import torch

from xgem_bench.utility.data import LabelledImages
from xgem_bench.utility.train import TrainSettings, train_arm


def labelled(n: int, size: int, rng: np.random.Generator) -> LabelledImages:
    return LabelledImages(torch.as_tensor(rng.integers(0, 256, (n, size, size)), dtype=torch.uint8),
                          (rng.random((n, 10)) < 0.2).astype(float), [f"s{i}" for i in range(n)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[64])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    device = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {device}; {args.images} training images, batch {args.batch_size}, {args.epochs} epochs; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for size in args.sizes:
        settings = TrainSettings(image_size=size, max_epochs=args.epochs, batch_size=args.batch_size,
                                 patience=args.epochs)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            record = train_arm(labelled(args.images, size, rng), labelled(8, size, rng), labelled(8, size, rng),
                               settings, seed=0, folder=Path(folder), progress=False)["record"]
        timed = record["history"][1:] or record["history"]
        rate = np.mean([h["images_per_s"] for h in timed])
        seconds = np.mean([h["seconds"] for h in timed])
        wall = (time.perf_counter() - started) / args.epochs
        print(f"{size:>4} px: {rate:8.1f} training images/s ({seconds:.1f} s per epoch of {args.images}; "
              f"{wall:.1f} s per epoch with model set-up, validation, checkpoint)")


if __name__ == "__main__":
    main()
