"""Training of each stage of the reference XGeM in a checkpoint folder: clip, image-vae, text-vae, ldm (per output,
with or without Multi-Prompt), align; the result saved with its configuration beside it (`stage.json`)."""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from xgem_bench.atomic import atomic_write_text
from xgem_bench.distributed import barrier, init_accelerate, is_main
from xgem_bench.reference_model import encoded_tables as tables_io
from xgem_bench.reference_model import model as xm
from xgem_bench.reference_model.alignment import build_branch
from xgem_bench.reference_model.codi_init import Init
from xgem_bench.reference_model.config import MODALITIES, PRESETS, XGeMConfig, get_config
from xgem_bench.reference_model.fit import fit
from xgem_bench.reference_model.stages import (AlignStage, ClipStage, ImageDecoderStage, ImageVAEStage, LDMStage,
                                              TextVAEStage, freeze)
from xgem_bench.reference_model.tokenizer import load_tokenizers
from xgem_bench.reference_model.training_data import (IndexDataset, StudyTensors, collate, training_indices,
                                                       usable_studies)
from xgem_bench.tasks import Modality

TABLES = "_tables"  # a stage's precomputed encoder outputs, removed when the stage ends


class StageExists(RuntimeError):
    """The stage is already trained in this checkpoint folder."""


def finish_stage(out_dir: Path, module: nn.Module, history: list[dict], info: dict, meta: dict | None = None) -> None:
    """Save the trained weights and stage.json (rank 0), drop the resumable state."""
    if is_main():
        xm.save_component(module, out_dir, meta)
        tail = history[-max(1, len(history) // 10):] if history else []
        summary = {k: float(np.mean([r[k] for r in tail])) for k in (tail[0] if tail else {}) if
                   k not in ("step", "epoch", "lr", "seconds")}
        atomic_write_text(out_dir / "stage.json", json.dumps({**info, "steps": len(history), "final": summary},
                                                             indent=1))
        shutil.rmtree(out_dir / "_state", ignore_errors=True)
        shutil.rmtree(out_dir / TABLES, ignore_errors=True)
    barrier()


def _stage_dir(root, stage, modality=None, variant="xgem", overwrite=False) -> Path:
    out = xm.component_dir(root, stage, modality, variant)
    if xm.is_trained(out):
        if not overwrite:
            raise StageExists(f"stage {stage}{' ' + modality if modality else ''} is already trained in {out}; "
                              "pass --overwrite to train it again")
        if is_main():
            shutil.rmtree(out)
        barrier()
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


def train_clip(root: Path, config: XGeMConfig, dataset, split="train", overwrite=False, init: Init = Init(),
               **kw) -> Path:
    root = Path(root)
    out = _stage_dir(root, "clip", overwrite=overwrite)
    tokenizers = load_tokenizers(config, root)
    prompt = xm.build_prompt_encoder(config, tokenizers)
    init.load(prompt.clip, "clip")
    usable = dataset.available(Modality.REPORT) & (dataset.available(Modality.FRONTAL) |
                                                   dataset.available(Modality.LATERAL))
    data = StudyTensors(dataset, [i for i in training_indices(dataset, split) if usable[i]],
                        config.image_vae.image_size)
    start = time.time()
    history = fit(ClipStage(prompt, config), list(prompt.parameters()), data, config.hyper["clip"], out, collate,
                  desc="clip", **kw)
    finish_stage(out, prompt.clip, history, _info(config, "clip", dataset, len(data), config.hyper["clip"],
                                             time.time() - start, init=init.name))
    return out


def train_image_vae(root: Path, config: XGeMConfig, dataset, split="train", overwrite=False, init: Init = Init(),
                    **kw) -> Path:
    """`tiny`: trains the small AutoencoderKL. `paper`: installs the pretrained SD-1 kl-f8 VAE (weights manager), or
    CoDi's AutoKL with --init codi (the same SD weights plus video layers that convert.py drops)."""
    root = Path(root)
    out = _stage_dir(root, "image-vae", overwrite=overwrite)
    vae = xm.build_image_vae(config)
    hyper = config.hyper["image-vae"]
    data = StudyTensors(dataset, training_indices(dataset, split), config.image_vae.image_size)
    start = time.time()
    history: list[dict] = []
    if init.from_codi:
        init.load(vae, "image-vae")
    elif hyper.epochs == 0:
        from xgem_bench import weights
        xm.load_hub_vae(vae, weights.require("sd-vae-kl-f8"))
    if hyper.epochs:
        holder = _ImageInput(config)
        history = fit(ImageVAEStage(vae, config, holder), list(vae.parameters()), data, hyper, out, collate,
                      desc="image-vae", **kw)
    if _preset(config).image_vae.scaling_factor is None:  # SD convention: unit-variance latents
        config.image_vae.scaling_factor = _latent_scale(vae, data, config)
        vae.register_to_config(scaling_factor=config.image_vae.scaling_factor)
        if is_main():
            config.save(Path(root) / "xgem_config.json")
    decoder_hyper, decoder_phase = config.hyper["image-decoder"], {}
    if decoder_hyper.epochs and config.image_vae.decoder_noise:
        steps = len(_train_decoder(vae, config, data, decoder_hyper, out, **kw))
        decoder_phase = {"decoder_phase": {"noise": config.image_vae.decoder_noise, "hyper": asdict(decoder_hyper),
                                           "steps": steps}}
    finish_stage(out, vae, history, _info(config, "image-vae", dataset, len(data), hyper, time.time() - start,
                                     scaling_factor=config.image_vae.scaling_factor, init=init.name, **decoder_phase))
    return out


def _train_decoder(vae, config: XGeMConfig, data, hyper, out: Path, **kw) -> list[dict]:
    """The noisy-latent decoder phase (stages.ImageDecoderStage), resumable on its own; its loss log is kept as
    loss_log_decoder.csv."""
    vae.encoder.requires_grad_(False)
    vae.quant_conv.requires_grad_(False)
    phase = out / "_decoder"
    phase.mkdir(exist_ok=True)
    stage = ImageDecoderStage(vae, config, _ImageInput(config), config.image_vae.scaling_factor)
    params = [p for p in vae.parameters() if p.requires_grad]
    history = fit(stage, params, data, hyper, phase, collate, desc="image-vae decoder", **kw)
    vae.requires_grad_(True)
    if is_main():
        (phase / "loss_log.csv").replace(out / "loss_log_decoder.csv")
        shutil.rmtree(phase)
    return history


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
        zs.append(vae.encode(transform(batch["frontal"]).to(vae.device)).latent_dist.mean)  # on fit's device
    return float(1.0 / torch.cat(zs).std())


def _preset(config: XGeMConfig) -> XGeMConfig:
    """The named configuration as shipped (a checkpoint's copy holds measured scales); a custom one as it is."""
    return get_config(config.name) if config.name in PRESETS else config


def measures_text_scale(config: XGeMConfig, init: Init) -> bool:
    """Whether the text-vae stage measures the report latent scale (1/std of mu over the training reports, as SD
    measured 0.18215) or keeps the configuration's constant: upstream's 4.3108 belongs to CoDi's pretrained Optimus,
    so it is kept only when the text VAE starts from those weights (--init codi); trained from scratch (`tiny`, or
    `paper` without --init codi) its latents have another spread and the scale is measured."""
    return not init.from_codi or _preset(config).text_vae.latent_scale is None


def train_text_vae(root: Path, config: XGeMConfig, dataset, split="train", overwrite=False, init: Init = Init(),
                   **kw) -> Path:
    root = Path(root)
    out = _stage_dir(root, "text-vae", overwrite=overwrite)
    tokenizers = load_tokenizers(config, root)
    vae = init.load(xm.build_text_vae(config, tokenizers), "text-vae")
    has_report = dataset.available(Modality.REPORT)
    data = StudyTensors(dataset, [i for i in training_indices(dataset, split) if has_report[i]],
                        config.image_vae.image_size)
    start = time.time()
    hyper = config.hyper["text-vae"]
    history = fit(TextVAEStage(vae, tokenizers), list(vae.parameters()), data, hyper, out, collate,
                  desc="text-vae", **kw)
    source = "measured" if measures_text_scale(config, init) else "upstream"
    config.text_vae.latent_scale = (text_latent_scale(vae, tokenizers, data) if source == "measured"
                                    else _preset(config).text_vae.latent_scale)
    if is_main():
        config.save(Path(root) / "xgem_config.json")
    # beside the weights too (diffusers keeps the image VAE's scaling_factor in its config.json): loading reads it there
    finish_stage(out, vae, history, _info(config, "text-vae", dataset, len(data), hyper, time.time() - start,
                                     latent_scale=config.text_vae.latent_scale, latent_scale_source=source,
                                     init=init.name),
                 {"text_vae": asdict(config.text_vae), xm.TEXT_SCALE_KEY: config.text_vae.latent_scale,
                  "latent_scale_source": source})
    return out


@torch.no_grad()
def text_latent_scale(vae, tokenizers, data) -> float:
    """1 / std of the posterior means of the training reports (every dimension pooled)."""
    vae.eval()
    device = vae.memory.weight.device  # where fit left it
    mus = [vae.encode(*(t.to(device) for t in tokenizers.encoder.encode(b["report"])))[0]
           for b in DataLoader(data, batch_size=64, collate_fn=collate)]
    return float(1.0 / torch.cat(mus).std())


def _tables_key(root: Path, data: StudyTensors, latents_for: Sequence[str]) -> dict:
    """What encoded tables hold: which studies, which columns, from which trained encoders (their stage.json)."""
    encoders = {s: hashlib.sha256((xm.component_dir(root, s) / "stage.json").read_bytes()).hexdigest()[:16]
                for s in ("clip", "image-vae", "text-vae") if xm.is_trained(xm.component_dir(root, s))}
    studies = hashlib.sha256(json.dumps([int(i) for i in data.indices]).encode()).hexdigest()[:16]
    return {"dataset": data.dataset.fingerprint(), "studies": studies, "n": len(data),
            "latents": list(latents_for), "encoders": encoders}


@torch.no_grad()
def encode_tables(root: Path, config: XGeMConfig, data: StudyTensors, latents_for: Sequence[str],
                  folder: Path) -> tuple:
    """Prompt embeddings of every modality and latents of `latents_for`, with the frozen trained encoders, into
    memory-mapped tables under `folder`: each process encodes its share of the studies on its accelerator, rank 0
    gathers the shares (encoded_tables.py). Complete tables of the same studies and encoders are reused."""
    root, folder = Path(root), Path(folder)
    state = init_accelerate()
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
        config.text_vae.latent_scale = xm.saved_text_scale(root / "text-vae", config)
    parts.to(state.device)  # the frozen encoders run on this process's accelerator (CPU without one)
    key = _tables_key(root, data, latents_for)
    done = tables_io.is_complete(folder, key)
    barrier()  # every rank has looked before rank 0 clears
    if not done:
        if is_main():
            tables_io.clear(folder)
        rows = tables_io.share(len(data), state.num_processes, state.process_index)
        files = tables_io.PartWriter(tables_io.part_folder(folder, state.process_index), len(rows))
        for batch in DataLoader(Subset(data, rows), batch_size=32, collate_fn=collate):
            embs = [prompt.encode_images(batch["frontal"]), prompt.encode_images(batch["lateral"]),
                    prompt.encode_texts(batch["report"])]
            columns = {"emb": torch.stack(embs, dim=1), "has": batch["has"]}
            for m in latents_for:
                if m == "report":
                    columns["report_z"] = parts.report_mu(batch["report"]) * parts.text_scale
                else:
                    post = parts.image_posterior(batch[m])
                    columns[f"{m}_mean"] = post.mean * parts.image_scale
                    columns[f"{m}_std"] = post.std * parts.image_scale
            files.append(columns)
        files.close()
        barrier()
        if is_main():
            tables_io.gather(folder, len(data), state.num_processes, key)
        barrier()
    null = torch.stack([prompt.null_embedding(m, config.clip.image_size) for m in MODALITIES]).cpu()
    return tables_io.open_tables(folder), null


def train_ldm(root: Path, config: XGeMConfig, dataset, modality: str, multi_prompt: bool = True,
              weighting: str = "uniform", split="train", overwrite=False, init: Init = Init(), **kw) -> Path:
    root = Path(root)
    variant = xm.variant_of(multi_prompt)
    out = _stage_dir(root, "ldm", modality, variant, overwrite)
    data = usable_studies(dataset, split, config, [modality], need_prompt=True)
    tables, null = encode_tables(root, config, data, [modality], out / TABLES)
    unet = init.load(xm.build_unet(modality, config), "ldm", modality)
    hyper = config.hyper["ldm-report" if modality == "report" else "ldm-image"]
    start = time.time()
    stage = LDMStage(modality, unet, tables, null, config, multi_prompt, weighting)
    history = fit(stage, list(unet.parameters()), IndexDataset(len(data)), hyper, out, desc=f"ldm {modality}", **kw)
    finish_stage(out, unet, history, _info(config, "ldm", dataset, len(data), hyper, time.time() - start,
                                      modality=modality, multi_prompt=multi_prompt, weighting=weighting,
                                      variant=variant, init=init.name), {"report_unet": asdict(config.report_unet)})
    return out


def train_align(root: Path, config: XGeMConfig, dataset, variant: str = "xgem", split="train", overwrite=False,
                init: Init = Init(), **kw) -> list[Path]:
    """The incremental schedule of config.align.phases: each phase trains the branches of its outputs that no
    earlier phase trained; everything else (LDMs, earlier branches, encoders) stays frozen."""
    root = Path(root)
    for m in MODALITIES:
        _require(root, "ldm", m, variant)
    outs = {m: _stage_dir(root, "align", m, variant, overwrite) for m in MODALITIES}
    data = usable_studies(dataset, split, config, list(MODALITIES), need_prompt=False)
    tables_dir = outs[MODALITIES[0]].parent / TABLES
    tables, null = encode_tables(root, config, data, list(MODALITIES), tables_dir)
    unets = {m: freeze(_load_unet(root, config, m, variant)) for m in MODALITIES}
    branches = {m: init.load(build_branch(m, unets[m], config), "align", m).attach(unets[m]) for m in MODALITIES}
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
        history = fit(stage, params, IndexDataset(len(data)), hyper, phase_dir, desc=f"align {'+'.join(pair)}", **kw)
        for m in trainable:
            histories[m] = history
        done += trainable
    for m in MODALITIES:
        branches[m].detach()
        finish_stage(outs[m], branches[m], histories.get(m, []),
                _info(config, "align", dataset, len(data), hyper, time.time() - start, modality=m, variant=variant,
                      connector_context=config.align.connector_context, phases=config.align.phases,
                      init=init.name),
                {"align": asdict(config.align)})
    if is_main():
        shutil.rmtree(tables_dir, ignore_errors=True)
        for phase_state in outs[MODALITIES[0]].parent.glob("*/_phase*/_state"):  # the phases' resumable states
            shutil.rmtree(phase_state)
    return list(outs.values())


def _load_unet(root, config, modality, variant):
    folder = xm.component_dir(root, "ldm", modality, variant)
    if modality == "report":
        return xm.load_weights(xm.build_unet(modality, config), folder)
    from diffusers import UNet2DConditionModel
    return UNet2DConditionModel.from_pretrained(folder)
