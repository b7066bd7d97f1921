"""Sampling throughput of the reference XGeM (studies/s), single-output and joint tasks.

Speed does not depend on the weights, so the model is built with random weights at the chosen configuration (a
local tokenizer stands in for the pretrained ones at `paper` size). Nothing here is a quality measurement.

    .venv/bin/python benchmarks/xgem_generation.py --config tiny --batch 8 --steps 50
    .venv/bin/python benchmarks/xgem_generation.py --config paper --batch 4 --device cuda --steps 50
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from xgem_bench.reference_model import model as xm
from xgem_bench.reference_model.alignment import build_branch
from xgem_bench.reference_model.config import MODALITIES, get_config
from xgem_bench.reference_model.tokenizer import local_tokenizers, train_local_tokenizer

REPORTS = ["no acute cardiopulmonary abnormality.", "cardiomegaly with small bilateral pleural effusions.",
           "right lower lobe consolidation.", "small left apical pneumothorax.", "mild pulmonary edema."]
TASKS = {"T->F": ({"report"}, ["frontal"]), "F->T": ({"frontal"}, ["report"]), "L+T->F": ({"lateral", "report"},
         ["frontal"]), "T->F+L": ({"report"}, ["frontal", "lateral"]), "F->L+T": ({"frontal"}, ["lateral", "report"])}


def build(config_name: str, device: str) -> xm.XGeM:
    config = get_config(config_name)
    config.image_vae.scaling_factor = config.image_vae.scaling_factor or 1.0
    config.text_vae.latent_scale = config.text_vae.latent_scale or 1.0
    tokenizer = train_local_tokenizer(REPORTS * 10, 500)
    if config.tokenizer == "local":
        config.clip.text_vocab = config.text_vae.bert_vocab = config.text_vae.gpt2_vocab = tokenizer.get_vocab_size()
    tokenizers = local_tokenizers(tokenizer, config.clip.max_length, config.text_vae.max_length)
    unets = {m: xm.build_unet(m, config) for m in MODALITIES}
    branches = {m: build_branch(m, unets[m], config) for m in MODALITIES}
    return xm.XGeM(config, tokenizers, xm.build_prompt_encoder(config, tokenizers), xm.build_image_vae(config),
                   xm.build_text_vae(config, tokenizers), unets, branches).to(device).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tasks", default=",".join(TASKS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = build(args.config, args.device)
    rng = np.random.default_rng(0)
    values = {"frontal": [rng.random((256, 256), dtype=np.float32) for _ in range(args.batch)],
              "lateral": [rng.random((256, 256), dtype=np.float32) for _ in range(args.batch)],
              "report": [REPORTS[i % len(REPORTS)] for i in range(args.batch)]}
    print(f"config={args.config} device={args.device} batch={args.batch} DDIM steps={args.steps} "
          f"threads={args.threads} (random weights)")
    for name in args.tasks.split(","):
        inputs, outputs = TASKS[name]
        times = []
        for r in range(args.repeats + 1):  # the first call warms up
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            model.generate({m: values[m] for m in inputs}, outputs, list(range(args.batch)), steps=args.steps)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            if r:
                times.append(time.perf_counter() - start)
        best = min(times)
        print(f"{name:8s} {args.batch / best:8.2f} studies/s   ({best:.2f} s per batch of {args.batch})")


if __name__ == "__main__":
    main()
