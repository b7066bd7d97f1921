"""The training loop every stage of the reference XGeM shares (accelerate: single process, `accelerate launch` or
`torchrun`): AdamW + cosine schedule, resumable per epoch, progress bar, per-step loss log (`loss_log.csv`)."""
from __future__ import annotations

import csv
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset as TorchDataset

from xgem_bench.atomic import atomic_write_text
from xgem_bench.distributed import cpu_only
from xgem_bench.progress import quiet_logger
from xgem_bench.reference_model.config import StageHyper
from xgem_bench.reference_model.text_vae import NO_CHECKPOINTING


@dataclass
class RunOptions:
    """How a stage runs (not what it learns): the `xgem-bench train` flags for memory and speed."""

    #: accelerate's mixed precision: "no", "bf16" or "fp16" (autocast; fp16 adds loss scaling)
    mixed_precision: str = "no"
    #: micro-batches per optimizer step: each process takes batch_size // (processes * grad_accum) studies at a time
    grad_accum: int = 1
    #: recompute activations in the backward pass (diffusers UNets, CLIP, BERT, the report UNet; not Optimus' GPT-2)
    gradient_checkpointing: bool = False
    #: DataLoader worker processes (decoding studies in the clip / VAE stages)
    workers: int = 0

    def __post_init__(self):
        if self.mixed_precision not in PRECISIONS:
            raise ValueError(f"--mixed-precision {self.mixed_precision!r}: use one of {', '.join(PRECISIONS)}")
        if self.grad_accum < 1:
            raise ValueError(f"--grad-accum {self.grad_accum}: must be at least 1")
        if self.workers < 0:
            raise ValueError(f"--workers {self.workers}: must be 0 or more")


PRECISIONS = ("no", "bf16", "fp16")


def enable_gradient_checkpointing(module: nn.Module) -> int:
    """Turn on activation recomputation in every sub-model that supports it; returns how many."""
    enabled: list[str] = []
    for name, sub in module.named_modules():
        if any(name.startswith(e + ".") for e in enabled):
            continue  # inside a model already checkpointed (or refusing it): no nested recomputation
        if getattr(sub, NO_CHECKPOINTING, False):
            enabled.append(name)  # left as is, with everything inside it
            continue
        if any(m._forward_hooks for m in sub.modules()):
            continue  # a UNet carrying alignment connectors: their context is unset when the backward recomputes
        if hasattr(sub, "enable_gradient_checkpointing") and getattr(sub, "_supports_gradient_checkpointing", True):
            sub.enable_gradient_checkpointing()  # diffusers models, our ReportUNet
        elif hasattr(sub, "gradient_checkpointing_enable") and getattr(sub, "supports_gradient_checkpointing",
                                                                      False):
            sub.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        else:
            continue
        enabled.append(name)
    return sum(not getattr(module.get_submodule(name), NO_CHECKPOINTING, False) for name in enabled)


def micro_batch(batch_size: int, processes: int, grad_accum: int, n: int) -> int:
    """Studies per process and micro-step so that processes x grad_accum micro-batches make one global batch."""
    return max(1, min(batch_size // (processes * grad_accum), n))


def fit(stage: nn.Module, params: list[nn.Parameter], data: TorchDataset, hyper: StageHyper, out_dir: Path,
        collate_fn: Callable | None = None, resume: bool = True, progress: bool = True, seed: int = 11,
        desc: str = "train", run: RunOptions | None = None) -> list[dict]:
    """AdamW + cosine schedule with linear warm-up (+ an EMA of the weights with `hyper.ema_decay`, copied into
    `params` at the end); checkpoints the training state after every epoch. Returns the
    stage's loss log (on rank 0; a resumed run's includes the epochs done before), one row per optimizer step."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm import tqdm
    from transformers import get_cosine_schedule_with_warmup

    run = run or RunOptions()
    accelerator = Accelerator(cpu=cpu_only(), mixed_precision=run.mixed_precision,
                              gradient_accumulation_steps=run.grad_accum)
    # each process draws its own noise, timesteps and dropout (the seed plus its rank); shuffling stays common
    # (the loader's own generator, below) and the weights come from rank 0 (DDP's broadcast)
    set_seed(seed, device_specific=True)
    if run.gradient_checkpointing:
        enable_gradient_checkpointing(stage)
    epochs = hyper.epochs
    # each rank takes every num_processes-th batch of batch_size // (num_processes * grad_accum) studies
    # (accelerate's batch sharding), so an epoch has as many optimizer steps, of the same global batch, as in one
    # process without accumulation
    batch = micro_batch(hyper.batch_size, accelerator.num_processes, run.grad_accum, len(data))
    # the shuffling generator is seeded apart from the per-process seed: one permutation of the studies, whatever
    # the number of processes, so two ranks step through the same global batches as one process; it is reseeded
    # from the epoch's number before each epoch, so a resumed run draws the permutations the killed one would have
    shuffle = torch.Generator()
    loader = DataLoader(data, batch_size=batch, shuffle=True, collate_fn=collate_fn,
                        drop_last=len(data) >= 2 * batch, num_workers=run.workers,
                        persistent_workers=run.workers > 0, generator=shuffle)
    optimizer = torch.optim.AdamW(params, lr=hyper.lr, weight_decay=hyper.weight_decay, eps=1e-8)
    model, optimizer, loader = accelerator.prepare(stage, optimizer, loader)
    # the schedule counts this process's optimizer steps (the sharded loader) and steps once per optimizer step:
    # a scheduler prepared by accelerate would step once per process and count the unsharded loader, so its
    # learning rates would depend on the number of processes
    total = max(1, epochs * -(-len(loader) // run.grad_accum))
    scheduler = get_cosine_schedule_with_warmup(optimizer, int(hyper.warmup_fraction * total), total)
    accelerator.register_for_checkpointing(scheduler)
    ema = None
    if hyper.ema_decay:
        from diffusers.training_utils import EMAModel
        ema = EMAModel(params, decay=hyper.ema_decay, use_ema_warmup=True, power=2 / 3)
        accelerator.register_for_checkpointing(ema)
    inner = accelerator.unwrap_model(model)

    state_dir = out_dir / "_state"
    pointer = state_dir / "progress.json"  # names the last complete epoch state; written after it
    start_epoch = 0
    if resume and pointer.is_file():
        done = json.loads(pointer.read_text())
        accelerator.load_state(str(state_dir / done["dir"]))
        start_epoch = done["epochs_done"]
    log_path = out_dir / "loss_log.csv"
    history = _restart_log(log_path, start_epoch) if accelerator.is_main_process else []
    # this process's optimizer steps per epoch, from the prepared (sharded) loader; a partial accumulation steps too
    step = start_epoch * -(-len(loader) // run.grad_accum)
    model.train()
    started = time.time()
    for epoch in range(start_epoch, epochs):
        shuffle.manual_seed(seed + epoch)
        bar = tqdm(loader, desc=f"{desc} {epoch + 1}/{epochs}", disable=not (progress and accelerator.is_main_process),
                   leave=False)
        for batch_data in bar:
            if hasattr(inner, "progress"):
                inner.progress = (step, total)
            with accelerator.accumulate(model):
                out = model(batch_data)  # under autocast with mixed precision (accelerate wraps the forward)
                accelerator.backward(out["loss"])
                if hyper.grad_clip and accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(params, hyper.grad_clip)
                optimizer.step()  # accelerate's wrapper steps only at the last micro-batch
                if accelerator.sync_gradients:
                    scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            if not accelerator.sync_gradients:
                continue
            if hasattr(inner, "after_step"):
                inner.after_step()
            if ema is not None:
                ema.step(params)
            row = {"step": step, "epoch": epoch, "seconds": round(time.time() - started, 2),
                   "lr": scheduler.get_last_lr()[0],
                   **{k: float(v.detach().float().mean()) for k, v in out.items()}}
            history.append(row)
            bar.set_postfix(loss=f"{row['loss']:.4f}")
            if accelerator.is_main_process:
                _append_csv(log_path, row)
            step += 1
        # a new folder per epoch and the pointer last: a run killed at any moment resumes from a complete state
        name = f"epoch{epoch + 1}"
        accelerator.wait_for_everyone()
        with quiet_logger("accelerate.utils.other"):  # "Removed shared tensor": GPT-2's tied lm_head, by design
            accelerator.save_state(str(state_dir / name))
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            atomic_write_text(pointer, json.dumps({"epochs_done": epoch + 1, "dir": name}))
            for old in state_dir.glob("epoch*"):
                if old.name != name:
                    shutil.rmtree(old)
    accelerator.wait_for_everyone()
    if ema is not None:
        ema.copy_to(params)  # the stage saves the averaged weights
    return history


def _restart_log(path: Path, start_epoch: int) -> list[dict]:
    """The loss log of the epochs already done (rows of an interrupted epoch or an earlier run dropped), rewritten."""
    if not path.exists():
        return []
    with open(path, newline="") as f:
        rows = [{k: int(v) if k in ("step", "epoch") else float(v) for k, v in row.items()}
                for row in csv.DictReader(f)  # a row cut short by a kill has empty fields
                if None not in row.values() and "" not in row.values() and int(row["epoch"]) < start_epoch]
    path.unlink()
    for row in rows:
        _append_csv(path, row)
    return rows


def _append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)

