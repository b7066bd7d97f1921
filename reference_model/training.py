"""Training stages of the reference XGeM: clip, image-vae, text-vae, ldm (per output, with or without Multi-Prompt),
align. One loop for all (accelerate: single process, `accelerate launch` or `torchrun`), resumable per epoch,
progress bar, per-step loss log (`loss_log.csv`), and the result saved with its configuration beside it.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset as TorchDataset

from xgem_bench.cache import atomic_write_text
from xgem_bench.progress import quiet_logger
from xgem_bench.reference_model import model as xm
from xgem_bench.reference_model.alignment import build_branch
from xgem_bench.reference_model.config import MODALITIES, StageHyper, XGeMConfig, get_config
from xgem_bench.reference_model.stages import (AlignStage, ClipStage, ImageVAEStage, LatentTables, LDMStage,
                                               TextVAEStage, freeze)
from xgem_bench.reference_model.text_vae import NO_CHECKPOINTING
from xgem_bench.reference_model.tokenizer import load_tokenizers, train_local_tokenizer
from xgem_bench.tasks import Modality

STAGES = ("clip", "image-vae", "text-vae", "ldm", "align")
TABLES = "_tables"  # a stage's precomputed encoder outputs, removed when the stage ends
#: decoded studies are kept in memory when both views of all of them fit in this many bytes (`tiny`, the demo);
#: at `paper` size on MIMIC-CXR (0.5 MB per study) they are read again every epoch instead
IMAGE_CACHE_BYTES = 1 << 30


class StageExists(RuntimeError):
    """The stage is already trained in this checkpoint folder."""


# ---------------------------------------------------------------------------------------------- data


class StudyTensors(TorchDataset):
    """Studies of an xgem-bench Dataset as tensors at the model's image size (missing views are zeros)."""

    def __init__(self, dataset, indices: Sequence[int], image_size: int, cache: bool | None = None):
        self.dataset, self.indices, self.size = dataset, list(indices), image_size
        if cache is None:
            cache = len(self.indices) * 2 * image_size ** 2 * 4 <= IMAGE_CACHE_BYTES
        self._cache: dict[int, dict] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        study = self.dataset.load(self.indices[i])
        item = {"index": i, "report": study.report or "",
                "has": torch.tensor([study.has(Modality(xm.CODES[m])) for m in MODALITIES])}
        for view in ("frontal", "lateral"):
            image = getattr(study, view)
            item[view] = (xm._resize(torch.as_tensor(np.asarray(image, dtype=np.float32))[None], self.size)[0, 0]
                          if image is not None else torch.zeros(self.size, self.size))
        if self._cache is not None:
            self._cache[i] = item
        return item


def collate(items: list[dict]) -> dict:
    return {"index": torch.tensor([it["index"] for it in items]), "report": [it["report"] for it in items],
            "has": torch.stack([it["has"] for it in items]),
            "frontal": torch.stack([it["frontal"] for it in items]),
            "lateral": torch.stack([it["lateral"] for it in items])}


def training_indices(dataset, split: str) -> np.ndarray:
    """Indices of the split to train on ("all" = every study; never the test split by default)."""
    return dataset.indices(split)


# ---------------------------------------------------------------------------------------------- the loop


def _cpu_only() -> bool:
    """accelerate's `cpu` flag: on GPU-less machines without it, accelerate ignores torchrun and each rank trains
    alone."""
    return not torch.cuda.is_available()


def init_processes():
    """Join the process group of `torchrun` / `accelerate launch` (nothing in a single process). Called before any file
    is written, so that rank 0 alone writes the checkpoint folder."""
    from accelerate import PartialState
    return PartialState(cpu=_cpu_only())


def _is_main() -> bool:
    import torch.distributed as dist
    if dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0  # launched, group not joined yet


def on_main(fn: Callable[..., None]) -> Callable[..., None]:
    """`fn` (a print or log function) run on rank 0 only, so that launched runs print each line once."""
    def call(*args, **kwargs) -> None:
        if _is_main():
            fn(*args, **kwargs)
    return call


_ERROR_KEY = "xgem_bench/error"


def reports_error(wait_s: float = 10.0) -> bool:
    """Whether this rank should print the error it just met. Errors from bad input hit every rank alike: rank 0 prints
    (and tells the others through the launcher's store); another rank prints only if rank 0 has told of no error
    within `wait_s` seconds, i.e. the error is its own."""
    import torch.distributed as dist
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return True
    store = dist.distributed_c10d._get_default_store()
    if dist.get_rank() == 0:
        store.set(_ERROR_KEY, "1")
        return True
    try:
        store.wait([_ERROR_KEY], timedelta(seconds=wait_s))
        return False
    except dist.DistStoreError:
        return True


@dataclass
class RunOptions:
    """How a stage runs (not what it learns): the `xgem-bench train` flags for memory and speed."""

    #: accelerate's mixed precision: "no", "bf16" or "fp16" (autocast; fp16 adds loss scaling)
    mixed_precision: str = "no"
    #: micro-batches per optimizer step: each process takes batch_size // (processes * grad_accum) studies at a time
    grad_accum: int = 1
    #: recompute activations in the backward pass (diffusers UNets, CLIP, BERT/GPT-2, the report UNet)
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
    """AdamW + cosine schedule with linear warm-up; checkpoints the training state after every epoch. Returns the
    stage's loss log (on rank 0; a resumed run's includes the epochs done before), one row per optimizer step."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm import tqdm
    from transformers import get_cosine_schedule_with_warmup

    run = run or RunOptions()
    accelerator = Accelerator(cpu=_cpu_only(), mixed_precision=run.mixed_precision,
                              gradient_accumulation_steps=run.grad_accum)
    # each process draws its own noise, timesteps and dropout (the seed plus its rank); shuffling stays common
    # (accelerate's synchronised sampler generator) and the weights come from rank 0 (DDP's broadcast)
    set_seed(seed, device_specific=True)
    if run.gradient_checkpointing:
        enable_gradient_checkpointing(stage)
    epochs = hyper.epochs
    # each rank takes every num_processes-th batch of batch_size // (num_processes * grad_accum) studies
    # (accelerate's batch sharding), so an epoch has as many optimizer steps, of the same global batch, as in one
    # process without accumulation
    batch = micro_batch(hyper.batch_size, accelerator.num_processes, run.grad_accum, len(data))
    loader = DataLoader(data, batch_size=batch, shuffle=True, collate_fn=collate_fn,
                        drop_last=len(data) >= 2 * batch, num_workers=run.workers,
                        persistent_workers=run.workers > 0)
    optimizer = torch.optim.AdamW(params, lr=hyper.lr, weight_decay=hyper.weight_decay, eps=1e-8)
    # the schedule counts the unsharded loader: accelerate steps a prepared scheduler once per process
    total = max(1, epochs * -(-len(loader) // run.grad_accum))
    scheduler = get_cosine_schedule_with_warmup(optimizer, int(hyper.warmup_fraction * total), total)
    model, optimizer, loader, scheduler = accelerator.prepare(stage, optimizer, loader, scheduler)
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
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            if not accelerator.sync_gradients:
                continue
            if hasattr(inner, "after_step"):
                inner.after_step()
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


def _finish(out_dir: Path, module: nn.Module, history: list[dict], info: dict, meta: dict | None = None) -> None:
    """Save the trained weights and stage.json (rank 0), drop the resumable state."""
    if _is_main():
        xm.save_component(module, out_dir, meta)
        tail = history[-max(1, len(history) // 10):] if history else []
        summary = {k: float(np.mean([r[k] for r in tail])) for k in (tail[0] if tail else {}) if
                   k not in ("step", "epoch", "lr", "seconds")}
        (out_dir / "stage.json").write_text(json.dumps({**info, "steps": len(history), "final": summary}, indent=1))
        shutil.rmtree(out_dir / "_state", ignore_errors=True)
        shutil.rmtree(out_dir / TABLES, ignore_errors=True)
    _barrier()


def _barrier() -> None:
    import torch.distributed as dist
    if dist.is_initialized():
        dist.barrier()


# ---------------------------------------------------------------------------------------------- setup


def prepare_checkpoint(root: Path, config_name: str, dataset, split: str = "train") -> XGeMConfig:
    """Create (or reopen) a checkpoint folder: its config, and for `tiny` the locally trained tokenizer."""
    init_processes()
    root = Path(root)
    exists = (root / "xgem_config.json").is_file()
    _barrier()  # every rank has looked before rank 0 writes
    if exists:
        config = xm.load_config(root)
        if config.name != config_name:
            raise ValueError(f"{root} holds a {config.name!r} checkpoint, not {config_name!r}")
        return config
    config = get_config(config_name)
    if _is_main():
        root.mkdir(parents=True, exist_ok=True)
        if config.tokenizer == "local":
            reports = [dataset.load(int(i)).report or "" for i in training_indices(dataset, split)]
            tokenizer = train_local_tokenizer(reports, config.local_vocab_size)
            tokenizer.save(str(root / "tokenizer.json"))
            vocab = tokenizer.get_vocab_size()
            config.clip.text_vocab = config.text_vae.bert_vocab = config.text_vae.gpt2_vocab = vocab
        config.save(root / "xgem_config.json")
    _barrier()
    return xm.load_config(root)


def _stage_dir(root, stage, modality=None, variant="xgem", overwrite=False) -> Path:
    out = xm.component_dir(root, stage, modality, variant)
    if xm.is_trained(out):
        if not overwrite:
            raise StageExists(f"stage {stage}{' ' + modality if modality else ''} is already trained in {out}; "
                              "pass --overwrite to train it again")
        if _is_main():
            shutil.rmtree(out)
        _barrier()
    out.mkdir(parents=True, exist_ok=True)
    return out


def _info(config, stage, dataset, n, hyper, seconds, **extra) -> dict:
    return {"stage": stage, "config": config.name, "dataset": dataset.name, "dataset_fingerprint":
            dataset.fingerprint(), "n_train": n, "hyper": asdict(hyper), "seconds": round(seconds, 2), **extra}


def _load_prompt(root, config):
    root = Path(root)
    tokenizers = load_tokenizers(config, root)
    _require(root, "clip")
    from transformers import CLIPModel
    from xgem_bench.reference_model.prompt_encoder import PromptEncoder
    return PromptEncoder(CLIPModel.from_pretrained(root / "clip"), tokenizers.clip), tokenizers


def _require(root, stage, modality=None, variant="xgem"):
    if not xm.is_trained(xm.component_dir(root, stage, modality, variant)):
        what = f"{stage} {xm.CODES.get(modality, '')}".strip()
        raise FileNotFoundError(f"stage {what} is not trained in {root}; run `xgem-bench train {stage}"
                                f"{' --modality ' + xm.CODES[modality] if modality else ''}` first")


# ---------------------------------------------------------------------------------------------- stages


def train_clip(root: Path, config: XGeMConfig, dataset, split="train", overwrite=False, **kw) -> Path:
    root = Path(root)
    out = _stage_dir(root, "clip", overwrite=overwrite)
    tokenizers = load_tokenizers(config, root)
    prompt = xm.build_prompt_encoder(config, tokenizers)
    usable = dataset.available(Modality.REPORT) & (dataset.available(Modality.FRONTAL) |
                                                   dataset.available(Modality.LATERAL))
    data = StudyTensors(dataset, [i for i in training_indices(dataset, split) if usable[i]],
                        config.image_vae.image_size)
    start = time.time()
    history = fit(ClipStage(prompt, config), list(prompt.parameters()), data, config.hyper["clip"], out, collate,
                  desc="clip", **kw)
    _finish(out, prompt.clip, history, _info(config, "clip", dataset, len(data), config.hyper["clip"],
                                             time.time() - start))
    return out


def train_image_vae(root: Path, config: XGeMConfig, dataset, split="train", overwrite=False, **kw) -> Path:
    """`tiny`: trains the small AutoencoderKL. `paper`: installs the pretrained SD-1 kl-f8 VAE (weights manager)."""
    root = Path(root)
    out = _stage_dir(root, "image-vae", overwrite=overwrite)
    vae = xm.build_image_vae(config)
    hyper = config.hyper["image-vae"]
    data = StudyTensors(dataset, training_indices(dataset, split), config.image_vae.image_size)
    start = time.time()
    history: list[dict] = []
    if hyper.epochs == 0:
        from xgem_bench import weights
        xm.load_hub_vae(vae, weights.require("sd-vae-kl-f8"))
    else:
        holder = _ImageInput(config)
        history = fit(ImageVAEStage(vae, config, holder), list(vae.parameters()), data, hyper, out, collate,
                      desc="image-vae", **kw)
    if get_config(config.name).image_vae.scaling_factor is None:  # SD convention: unit-variance latents
        config.image_vae.scaling_factor = _latent_scale(vae, data, config)
        vae.register_to_config(scaling_factor=config.image_vae.scaling_factor)
        if _is_main():
            config.save(Path(root) / "xgem_config.json")
    _finish(out, vae, history, _info(config, "image-vae", dataset, len(data), hyper, time.time() - start,
                                     scaling_factor=config.image_vae.scaling_factor))
    return out


class _ImageInput:
    """The VAE input transform of XGeM.image_input, usable before a full model exists."""

    def __init__(self, config: XGeMConfig):
        self.config = config

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        c = self.config.image_vae
        x = xm._resize(images, c.image_size)
        return (x * 2 - 1).expand(-1, c.channels, -1, -1)


@torch.no_grad()
def _latent_scale(vae, data, config) -> float:
    transform = _ImageInput(config)
    zs = []
    for batch in DataLoader(data, batch_size=32, collate_fn=collate):
        zs.append(vae.encode(transform(batch["frontal"])).latent_dist.mean)
    return float(1.0 / torch.cat(zs).std())


def train_text_vae(root: Path, config: XGeMConfig, dataset, split="train", overwrite=False, **kw) -> Path:
    root = Path(root)
    out = _stage_dir(root, "text-vae", overwrite=overwrite)
    tokenizers = load_tokenizers(config, root)
    vae = xm.build_text_vae(config, tokenizers)
    has_report = dataset.available(Modality.REPORT)
    data = StudyTensors(dataset, [i for i in training_indices(dataset, split) if has_report[i]],
                        config.image_vae.image_size)
    start = time.time()
    hyper = config.hyper["text-vae"]
    history = fit(TextVAEStage(vae, tokenizers), list(vae.parameters()), data, hyper, out, collate,
                  desc="text-vae", **kw)
    if get_config(config.name).text_vae.latent_scale is None:
        vae.eval()
        with torch.no_grad():
            mus = [vae.encode(*tokenizers.encoder.encode(b["report"]))[0]
                   for b in DataLoader(data, batch_size=64, collate_fn=collate)]
        config.text_vae.latent_scale = float(1.0 / torch.cat(mus).std())
        if _is_main():
            config.save(Path(root) / "xgem_config.json")
    _finish(out, vae, history, _info(config, "text-vae", dataset, len(data), hyper, time.time() - start,
                                     latent_scale=config.text_vae.latent_scale), {"text_vae": asdict(config.text_vae)})
    return out


class _TableFiles:
    """Per-study arrays written batch by batch into memory-mapped .npy files: the tables of a stage cost disk, not
    RAM (about 75 KB per study at `paper` size with every latent). One folder per process."""

    def __init__(self, folder: Path, n: int):
        import torch.distributed as dist
        rank = dist.get_rank() if dist.is_initialized() else 0
        self.folder, self.n, self.filled = Path(folder) / f"rank{rank}", n, 0
        self.columns: dict[str, np.ndarray] = {}
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)

    def append(self, batch: dict[str, torch.Tensor]) -> None:
        rows = 0
        for name, value in batch.items():
            value = value.detach().cpu().numpy()
            if name not in self.columns:
                self.columns[name] = np.lib.format.open_memmap(self.folder / f"{name}.npy", mode="w+",
                                                               dtype=value.dtype, shape=(self.n, *value.shape[1:]))
            self.columns[name][self.filled: self.filled + len(value)] = value
            rows = len(value)
        self.filled += rows

    def tables(self) -> LatentTables:
        if self.filled != self.n:
            raise RuntimeError(f"encoded {self.filled} of {self.n} studies")
        for column in self.columns.values():
            column.flush()
        return LatentTables({name: torch.from_numpy(column) for name, column in self.columns.items()})


@torch.no_grad()
def encode_tables(root: Path, config: XGeMConfig, data: StudyTensors, latents_for: Sequence[str],
                  folder: Path) -> tuple:
    """Prompt embeddings of every modality and latents of `latents_for`, with the frozen trained encoders, into
    memory-mapped tables under `folder`."""
    root = Path(root)
    prompt, tokenizers = _load_prompt(root, config)
    prompt.eval()
    parts = xm.XGeM(config, tokenizers, prompt, None, None, {})
    if any(m != "report" for m in latents_for):
        _require(root, "image-vae")
        from diffusers import AutoencoderKL
        parts.image_vae = AutoencoderKL.from_pretrained(root / "image-vae").eval()
    if "report" in latents_for:
        _require(root, "text-vae")
        parts.text_vae = xm.load_weights(xm.build_text_vae(config, tokenizers), root / "text-vae").eval()
    parts.to(init_processes().device)  # the frozen encoders run on this process's accelerator (CPU without one)
    files = _TableFiles(folder, len(data))
    for batch in DataLoader(data, batch_size=32, collate_fn=collate):
        embs = [prompt.encode_images(batch["frontal"]), prompt.encode_images(batch["lateral"]),
                prompt.encode_texts(batch["report"])]
        columns = {"emb": torch.stack(embs, dim=1), "has": batch["has"]}
        for m in latents_for:
            if m == "report":
                columns["report_z"] = parts.report_mu(batch["report"]) * parts.text_scale
            else:
                post = parts.image_posterior(batch[m])
                columns[f"{m}_mean"], columns[f"{m}_std"] = post.mean * parts.image_scale, post.std * parts.image_scale
        files.append(columns)
    null = torch.stack([prompt.null_embedding(m, config.clip.image_size) for m in MODALITIES]).cpu()
    return files.tables(), null


def train_ldm(root: Path, config: XGeMConfig, dataset, modality: str, multi_prompt: bool = True,
              weighting: str = "uniform", split="train", overwrite=False, **kw) -> Path:
    root = Path(root)
    variant = xm.variant_of(multi_prompt)
    out = _stage_dir(root, "ldm", modality, variant, overwrite)
    data = _usable(dataset, split, config, [modality], need_prompt=True)
    tables, null = encode_tables(root, config, data, [modality], out / TABLES)
    unet = xm.build_unet(modality, config)
    hyper = config.hyper["ldm-report" if modality == "report" else "ldm-image"]
    start = time.time()
    stage = LDMStage(modality, unet, tables, null, config, multi_prompt, weighting)
    history = fit(stage, list(unet.parameters()), _Indices(len(data)), hyper, out, desc=f"ldm {modality}", **kw)
    _finish(out, unet, history, _info(config, "ldm", dataset, len(data), hyper, time.time() - start,
                                      modality=modality, multi_prompt=multi_prompt, weighting=weighting,
                                      variant=variant), {"report_unet": asdict(config.report_unet)})
    return out


def train_align(root: Path, config: XGeMConfig, dataset, variant: str = "xgem", split="train", overwrite=False,
                **kw) -> list[Path]:
    """The incremental schedule of config.align.phases: each phase trains the branches of its outputs that no
    earlier phase trained; everything else (LDMs, earlier branches, encoders) stays frozen."""
    root = Path(root)
    for m in MODALITIES:
        _require(root, "ldm", m, variant)
    outs = {m: _stage_dir(root, "align", m, variant, overwrite) for m in MODALITIES}
    data = _usable(dataset, split, config, list(MODALITIES), need_prompt=False)
    tables_dir = outs[MODALITIES[0]].parent / TABLES
    tables, null = encode_tables(root, config, data, list(MODALITIES), tables_dir)
    unets = {m: freeze(_load_unet(root, config, m, variant)) for m in MODALITIES}
    branches = {m: build_branch(m, unets[m], config).attach(unets[m]) for m in MODALITIES}
    hyper, done = config.hyper["align"], []
    start = time.time()
    histories: dict[str, list] = {}
    for phase, pair in enumerate(config.align.phases):
        trainable = [m for m in pair if m not in done]
        for m in MODALITIES:
            branches[m].requires_grad_(m in trainable)
        stage = AlignStage(pair, unets, branches, tables, null, config)
        params = [p for m in trainable for p in branches[m].parameters()]
        phase_dir = outs[trainable[0]] / f"_phase{phase}"
        phase_dir.mkdir(exist_ok=True)
        history = fit(stage, params, _Indices(len(data)), hyper, phase_dir, desc=f"align {'+'.join(pair)}", **kw)
        for m in trainable:
            histories[m] = history
        done += trainable
    for m in MODALITIES:
        branches[m].detach()
        _finish(outs[m], branches[m], histories.get(m, []),
                _info(config, "align", dataset, len(data), hyper, time.time() - start, modality=m, variant=variant,
                      connector_context=config.align.connector_context, phases=config.align.phases),
                {"align": asdict(config.align)})
    if _is_main():
        shutil.rmtree(tables_dir, ignore_errors=True)
    return list(outs.values())


def _load_unet(root, config, modality, variant):
    folder = xm.component_dir(root, "ldm", modality, variant)
    if modality == "report":
        return xm.load_weights(xm.build_unet(modality, config), folder)
    from diffusers import UNet2DConditionModel
    return UNet2DConditionModel.from_pretrained(folder)


class _Indices(TorchDataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


def _usable(dataset, split, config, targets: Sequence[str], need_prompt: bool) -> StudyTensors:
    """Training studies that have every target and (for an LDM) at least one other modality to prompt with."""
    masks = {m: dataset.available(Modality(xm.CODES[m])) for m in MODALITIES}
    keep = []
    for i in training_indices(dataset, split):
        if all(masks[m][i] for m in targets) and (not need_prompt or any(masks[m][i] for m in MODALITIES
                                                                         if m not in targets)):
            keep.append(int(i))
    if not keep:
        raise ValueError(f"no training studies with {', '.join(targets)} in split {split!r}")
    return StudyTensors(dataset, keep, config.image_vae.image_size)


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


def shutdown() -> None:
    """End a distributed run cleanly: every rank reaches the barrier before the group goes."""
    import torch.distributed as dist
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
