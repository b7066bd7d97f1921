"""Training the reference XGeM: create or reopen a checkpoint folder, then train one stage (`train_stage`) or every
stage not yet trained, in order (`train_all`). The stages are in stage_training.py, the loop in fit.py, the process
plumbing in xgem_bench/distributed.py."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

from xgem_bench.distributed import barrier, init_accelerate, is_main
from xgem_bench.reference_model import model as xm
from xgem_bench.reference_model.config import MODALITIES, XGeMConfig, get_config
from xgem_bench.reference_model.stage_training import (StageExists, train_align, train_clip, train_image_vae,
                                                       train_ldm, train_text_vae)
from xgem_bench.reference_model.tokenizer import train_local_tokenizer
from xgem_bench.reference_model.training_data import training_indices

STAGES = ("clip", "image-vae", "text-vae", "ldm", "align")


def prepare_checkpoint(root: Path, config_name: str, dataset, split: str = "train") -> XGeMConfig:
    """Create (or reopen) a checkpoint folder: its config, and for `tiny` the locally trained tokenizer."""
    init_accelerate()
    root = Path(root)
    exists = (root / "xgem_config.json").is_file()
    barrier()  # every rank has looked before rank 0 writes
    if exists:
        config = xm.load_config(root)
        if config.name != config_name:
            raise ValueError(f"{root} holds a {config.name!r} checkpoint, not {config_name!r}")
        return config
    config = get_config(config_name)
    if is_main():
        root.mkdir(parents=True, exist_ok=True)
        if config.tokenizer == "local":
            reports = [dataset.load(int(i)).report or "" for i in training_indices(dataset, split)]
            tokenizer = train_local_tokenizer(reports, config.local_vocab_size)
            tokenizer.save(str(root / "tokenizer.json"))
            vocab = tokenizer.get_vocab_size()
            config.clip.text_vocab = config.text_vae.bert_vocab = config.text_vae.gpt2_vocab = vocab
        config.save(root / "xgem_config.json")
    barrier()
    return xm.load_config(root)


def train_all(root: Path, config_name: str, dataset, variants: Sequence[str] = ("xgem",), split="train",
              progress=True, log: Callable[[str], None] = print,
              adjust: Callable[[XGeMConfig], None] | None = None, **fit_kw) -> dict[str, float]:
    """Every stage not yet trained in `root`, in order; returns seconds per stage trained now.
    `adjust` may change the loaded configuration (e.g. epochs) before each stage."""
    root = Path(root)
    prepare_checkpoint(root, config_name, dataset, split)
    timings: dict[str, float] = {}

    def run(name, fn, *args, **kw):
        config = xm.load_config(root)
        if adjust:
            adjust(config)
        start = time.time()
        try:
            fn(root, config, dataset, *args, split=split, progress=progress, **kw, **fit_kw)
        except StageExists:
            return
        timings[name] = round(time.time() - start, 1)
        log(f"trained {name} in {timings[name]:.1f} s")

    run("clip", train_clip)
    run("image-vae", train_image_vae)
    run("text-vae", train_text_vae)
    for variant in variants:
        for m in MODALITIES:
            run(f"ldm {xm.CODES[m]} ({variant})", train_ldm, m, multi_prompt=xm.VARIANTS[variant])
        run(f"align ({variant})", train_align, variant=variant)
    return timings


def check_stage(stage: str, variants: Sequence[str]) -> None:
    """Refuse an unknown stage or variant (before any data is loaded)."""
    stages = (*STAGES, "all")
    if stage not in stages:
        raise ValueError(f"unknown stage {stage!r}; use one of {', '.join(stages)}")
    unknown = set(variants) - set(xm.VARIANTS)
    if unknown:
        raise ValueError(f"unknown variant {', '.join(sorted(unknown))}; use one of {', '.join(xm.VARIANTS)} "
                         "(or both, with `all`)")


def train_stage(stage: str, root: Path, config_name: str, dataset, modalities: Sequence[str] | None = None,
                multi_prompt: bool = True, weighting: str = "uniform", variants: Sequence[str] = ("xgem",),
                overwrite: bool = False, split: str = "train", log: Callable[[str], None] = print,
                adjust: Callable[[XGeMConfig], None] | None = None, **fit_kw) -> None:
    """Train one stage (`ldm`: each of `modalities`, default all three; `align`: each of `variants`) or, with "all",
    every stage not yet trained; `log` gets one line per result."""
    check_stage(stage, variants)
    if stage == "all":
        timings = train_all(root, config_name, dataset, variants, split=split, log=log, adjust=adjust, **fit_kw)
        log(f"checkpoint {root}: " + (", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
                                      or "every stage was already trained"))
        return
    config = prepare_checkpoint(root, config_name, dataset, split)
    if adjust:
        adjust(config)
    common = dict(split=split, overwrite=overwrite, **fit_kw)
    if stage == "ldm":
        for m in modalities or MODALITIES:
            out = train_ldm(root, config, dataset, m, multi_prompt=multi_prompt, weighting=weighting, **common)
            log(f"trained ldm {xm.CODES[m]} ({xm.variant_of(multi_prompt)}): {out}")
    elif stage == "align":
        for v in variants:
            train_align(root, config, dataset, variant=v, **common)
            log(f"trained align ({v}) in {root}")
    else:
        train = {"clip": train_clip, "image-vae": train_image_vae, "text-vae": train_text_vae}[stage]
        log(f"trained {stage}: {train(root, config, dataset, **common)}")
