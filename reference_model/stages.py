"""The training objectives, one nn.Module per stage: `forward(batch) -> {"loss": ..., other logged values}`.

Wrapping each objective in a module keeps every frozen and trainable part under one forward call, which is what
DistributedDataParallel needs (accelerate wraps the stage module, not the bare UNet).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from xgem_bench.reference_model.alignment import AlignBranch
from xgem_bench.reference_model.config import MODALITIES, XGeMConfig
from xgem_bench.reference_model.diffusion import denoise_with_connectors, noisy_step, predict_noise, train_scheduler
from xgem_bench.reference_model.multiprompt import drop_conditions, mix, prompt_weights
from xgem_bench.reference_model.prompt_encoder import PromptEncoder, info_nce
from xgem_bench.reference_model.text_vae import OptimusVAE, beta_schedule
from xgem_bench.reference_model.tokenizer import ReportTokenizers


def freeze(module: nn.Module) -> nn.Module:
    module.requires_grad_(False)
    return module.eval()


class ClipStage(nn.Module):
    """Bridging alignment: each study contributes one (view, report) pair, the view drawn among those present."""

    def __init__(self, prompt: PromptEncoder, config: XGeMConfig):
        super().__init__()
        self.prompt, self.max_scale = prompt, config.clip.logit_scale_max

    def forward(self, batch: dict) -> dict:
        has_f, has_l = batch["has"][:, 0], batch["has"][:, 1]
        pick_f = has_f & (~has_l | (torch.rand(len(has_f), device=has_f.device) < 0.5))
        images = torch.where(pick_f.view(-1, 1, 1), batch["frontal"], batch["lateral"])
        img = self.prompt.encode_images(images)
        txt = self.prompt.encode_texts(batch["report"])
        return {"loss": self.prompt.contrastive_loss(img, txt), "scale": self.prompt.clip.logit_scale.detach().exp()}

    def after_step(self) -> None:
        self.prompt.clamp_temperature(self.max_scale)


def random_crop(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """One random square crop of `size` pixels, the same window for the whole batch [B,C,H,W] (None: x itself)."""
    if size is None or size >= min(x.shape[-2:]):
        return x
    i, j = (int(torch.randint(0, n - size + 1, ())) for n in x.shape[-2:])
    return x[..., i:i + size, j:j + size]


def edge_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean L1 distance between the vertical and horizontal finite differences of two image batches."""
    return (F.l1_loss(a.diff(dim=-2), b.diff(dim=-2)) + F.l1_loss(a.diff(dim=-1), b.diff(dim=-1))) / 2


class ImageVAEStage(nn.Module):
    """AutoencoderKL reconstruction (MSE + L1, + L1 of image gradients with `edge_weight`) + small KL on both views,
    on random crops of `train_crop` pixels when set (tiny only: `paper` imports the SD kl-f8 VAE)."""

    def __init__(self, vae, config: XGeMConfig, image_input):
        super().__init__()
        self.vae, self.kl_weight, self.image_input = vae, config.image_vae.kl_weight, image_input
        self.crop, self.edge_weight = config.image_vae.train_crop, config.image_vae.edge_weight

    def forward(self, batch: dict) -> dict:
        x = random_crop(self.image_input(both_views(batch)), self.crop)
        posterior = self.vae.encode(x).latent_dist
        rec = self.vae.decode(posterior.sample()).sample
        kl = posterior.kl().mean() / x[0].numel()
        return reconstruction_loss(rec, x, self.edge_weight, self.kl_weight * kl)


class ImageDecoderStage(nn.Module):
    """The image VAE's second phase (`image_vae.decoder_noise`): the decoder alone (the encoder is frozen, so the
    latents the LDMs learn keep their scale) decodes posterior samples plus Gaussian noise, its std drawn per image
    uniformly in [0, decoder_noise] units of the scaled latent, back to the clean image. A diffusion model's sampled
    latents are never exact; a decoder that only ever saw posterior samples turns their small errors into blotches."""

    def __init__(self, vae, config: XGeMConfig, image_input, latent_scale: float):
        super().__init__()
        self.vae, self.image_input, self.latent_scale = vae, image_input, latent_scale
        c = config.image_vae
        self.crop, self.edge_weight, self.noise = c.train_crop, c.edge_weight, c.decoder_noise

    def forward(self, batch: dict) -> dict:
        x = random_crop(self.image_input(both_views(batch)), self.crop)
        with torch.no_grad():
            z = self.vae.encode(x).latent_dist.sample()
        std = self.noise / self.latent_scale * torch.rand(len(z), 1, 1, 1, device=z.device)
        rec = self.vae.decode(z + std * torch.randn_like(z)).sample
        return reconstruction_loss(rec, x, self.edge_weight)


def both_views(batch: dict) -> torch.Tensor:
    """The frontal and lateral images of a batch of studies, those present, as one batch [N,H,W]."""
    return torch.cat([batch[v][batch["has"][:, i]] for i, v in enumerate(("frontal", "lateral"))])


def reconstruction_loss(rec: torch.Tensor, x: torch.Tensor, edge_weight: float, extra: torch.Tensor | float = 0.0
                        ) -> dict:
    """MSE + L1 (+ `edge_weight` x the L1 of the image gradients) + `extra` (the VAE phase's weighted KL)."""
    mse = F.mse_loss(rec, x)
    loss = mse + F.l1_loss(rec, x) + extra
    if edge_weight:
        loss = loss + edge_weight * edge_l1(rec, x)
    return {"loss": loss, "mse": mse.detach()}


class TextVAEStage(nn.Module):
    """Optimus fine-tuning: reconstruction + cyclical beta * free-bits KL; `progress` is set by the training loop."""

    def __init__(self, vae: OptimusVAE, tokenizers: ReportTokenizers):
        super().__init__()
        self.vae, self.tokenizers = vae, tokenizers
        self.progress = (0, 1)

    def forward(self, batch: dict) -> dict:
        device = self.vae.memory.weight.device
        enc_ids, enc_mask = (t.to(device) for t in self.tokenizers.encoder.encode(batch["report"]))
        dec_ids, dec_mask = (t.to(device) for t in self.tokenizers.decoder.encode(batch["report"]))
        c = self.vae.config
        beta = beta_schedule(*self.progress, c.beta_zero_fraction, c.beta_increase_fraction)
        out = self.vae.loss(enc_ids, enc_mask, dec_ids, dec_mask, beta)
        return {**out, "beta": torch.tensor(beta)}


class LatentTables:
    """Frozen-encoder outputs precomputed once per stage: prompt embeddings (`emb` [N,3,D]), which modalities a
    study has (`has` [N,3]), image posteriors (`<view>_mean`, `<view>_std`) and report latents (`report_z`).

    The tables stay on the CPU (memory-mapped files at full scale) and only the rows of a batch move to its device,
    so neither RAM nor GPU memory grows with the dataset."""

    def __init__(self, tables: dict[str, torch.Tensor]):
        self.tables = tables

    def rows(self, name: str, idx: torch.Tensor) -> torch.Tensor:
        return self.tables[name][idx.cpu()].to(idx.device)

    def prompt(self, modality: str, idx: torch.Tensor) -> torch.Tensor:
        return self.rows("emb", idx)[:, MODALITIES.index(modality)]

    def available(self, modality: str, idx: torch.Tensor) -> torch.Tensor:
        return self.rows("has", idx)[:, MODALITIES.index(modality)]

    def latent(self, modality: str, idx: torch.Tensor) -> torch.Tensor:
        if modality == "report":
            return self.rows("report_z", idx)
        mean, std = self.rows(f"{modality}_mean", idx), self.rows(f"{modality}_std", idx)
        return mean + std * torch.randn_like(std)  # a fresh posterior sample each time, as AutoKL.encode().sample()


class LDMStage(nn.Module):
    """Noise-prediction training of one output's UNet with Multi-Prompt conditioning and 10% CFG dropout."""

    def __init__(self, target: str, unet: nn.Module, tables: LatentTables, null: torch.Tensor, config: XGeMConfig,
                 multi_prompt: bool = True, weighting: str = "uniform"):
        super().__init__()
        self.target, self.unet, self.tables = target, unet, tables
        self.others = [m for m in MODALITIES if m != target]
        self.register_buffer("null", null[[MODALITIES.index(m) for m in self.others]], persistent=False)
        self.scheduler = train_scheduler(config.diffusion)
        self.p_uncond, self.multi_prompt, self.weighting = config.diffusion.cfg_dropout, multi_prompt, weighting
        self.snr_gamma = config.diffusion.snr_gamma

    def forward(self, idx: torch.Tensor) -> dict:
        prompts = torch.stack([self.tables.prompt(m, idx) for m in self.others], dim=1)
        available = torch.stack([self.tables.available(m, idx) for m in self.others], dim=1)
        weights = prompt_weights(available.cpu(), self.multi_prompt, self.weighting).to(prompts)
        cond = mix(prompts, weights)
        null = mix(self.null.expand(len(idx), -1, -1), weights)
        cond = drop_conditions(cond, null, self.p_uncond)
        z0 = self.tables.latent(self.target, idx)
        t = torch.randint(0, self.scheduler.config.num_train_timesteps, (len(idx),), device=z0.device)
        x_t, noise = noisy_step(self.scheduler, z0, t)
        eps = predict_noise(self.unet, x_t, t, cond.unsqueeze(1))
        if self.snr_gamma is None:
            return {"loss": F.mse_loss(eps, noise)}
        per_sample = F.mse_loss(eps, noise, reduction="none").flatten(1).mean(1)
        return {"loss": (min_snr_weights(self.scheduler, t, self.snr_gamma) * per_sample).mean()}


def min_snr_weights(scheduler, t: torch.Tensor, gamma: float) -> torch.Tensor:
    """Min-SNR-gamma weights of the noise-prediction loss: min(SNR_t, gamma) / SNR_t, SNR_t = abar_t / (1 - abar_t)."""
    abar = scheduler.alphas_cumprod.to(t.device)[t]
    snr = abar / (1 - abar)
    return snr.clamp(max=gamma) / snr


class AlignStage(nn.Module):
    """Joint denoising of a pair of outputs through frozen UNets + trainable V's and connectors, plus InfoNCE
    between the two environment vectors; conditioned on the remaining modality (CFG dropout as in the LDMs)."""

    def __init__(self, pair: tuple[str, str], unets: dict[str, nn.Module], branches: dict[str, AlignBranch],
                 tables: LatentTables, null: torch.Tensor, config: XGeMConfig):
        super().__init__()
        self.pair = tuple(pair)
        (self.condition,) = [m for m in MODALITIES if m not in pair]
        self.unets = nn.ModuleDict({m: freeze(unets[m]) for m in pair})
        self.branches = nn.ModuleDict({m: branches[m] for m in pair})
        self.tables = tables
        self.register_buffer("null", null[MODALITIES.index(self.condition)], persistent=False)
        self.scheduler = train_scheduler(config.diffusion)
        self.p_uncond, self.mode = config.diffusion.cfg_dropout, config.align.connector_context
        self.temperature = config.align.temperature

    def forward(self, idx: torch.Tensor) -> dict:
        cond = self.tables.prompt(self.condition, idx)
        cond = drop_conditions(cond, self.null.expand_as(cond), self.p_uncond).unsqueeze(1)
        z0 = {m: self.tables.latent(m, idx) for m in self.pair}
        t = torch.randint(0, self.scheduler.config.num_train_timesteps, (len(idx),), device=cond.device)
        noisy = {m: noisy_step(self.scheduler, z0[m], t) for m in self.pair}
        eps, env = denoise_with_connectors(self.unets, self.branches, {m: v[0] for m, v in noisy.items()}, t, cond,
                                           self.mode)
        mse = torch.stack([F.mse_loss(eps[m], noisy[m][1]) for m in self.pair]).mean()
        contrastive = info_nce(env[self.pair[0]], env[self.pair[1]], 1.0 / self.temperature)
        return {"loss": mse + contrastive, "mse": mse.detach(), "contrastive": contrastive.detach()}
