"""Noise schedule, the noise-prediction loss, and joint lock-step DDIM sampling with per-output guidance (spec §3, §8).

Joint sampling: every output starts from its own seeded noise; at each of the shared DDIM timesteps the environment
vectors V_i(x_t^i) of all outputs are computed first, then each UNet predicts its noise with its connectors attending
to them (alignment.connector_contexts), classifier-free guidance is applied per output, and all outputs take the same
DDIM step. The UNets exchange nothing inside a step besides the V vectors, so running them one after the other within
the step equals CoDi's block-interleaved loop.
"""
from __future__ import annotations

from typing import Sequence

import torch
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DConditionModel

from xgem_bench.reference_model.alignment import AlignBranch, connector_contexts, time_embedding
from xgem_bench.reference_model.config import DiffusionConfig


def _betas(cfg: DiffusionConfig) -> dict:
    return dict(num_train_timesteps=cfg.num_train_timesteps, beta_start=cfg.beta_start, beta_end=cfg.beta_end,
                beta_schedule="scaled_linear", clip_sample=False)


def train_scheduler(cfg: DiffusionConfig) -> DDPMScheduler:
    return DDPMScheduler(**_betas(cfg), prediction_type="epsilon")


def ddim_scheduler(cfg: DiffusionConfig) -> DDIMScheduler:
    """50 steps give t = 980, 960, ..., 0 and alpha_prev(0) = alpha_bar_0, as the CompVis DDIM sampler."""
    return DDIMScheduler(**_betas(cfg), prediction_type="epsilon", set_alpha_to_one=False, steps_offset=0,
                         timestep_spacing="leading")


def predict_noise(unet: torch.nn.Module, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    """eps-prediction of either UNet kind; context is [B, n, D]."""
    if isinstance(unet, UNet2DConditionModel):
        return unet(x, t, encoder_hidden_states=context).sample
    return unet(x, t, context)


def noisy_step(scheduler: DDPMScheduler, z0: torch.Tensor, t: torch.Tensor,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    noise = torch.randn(z0.shape, generator=generator, device=z0.device) if generator else torch.randn_like(z0)
    return scheduler.add_noise(z0, noise, t), noise


def denoise_with_connectors(unets: dict, branches: dict[str, AlignBranch] | None, x: dict[str, torch.Tensor],
                            t: torch.Tensor, context: torch.Tensor, mode: str):
    """Noise prediction per output, and the environment vectors V_i(x_t^i) (None without branches: connectors off)."""
    if not branches:
        return {m: predict_noise(unets[m], x[m], t, context) for m in x}, None
    env = {m: branches[m].env(x[m], time_embedding(unets[m], t)) for m in x}
    contexts = connector_contexts(env, mode)
    eps = {}
    for m in x:
        branches[m].context = contexts[m]
        try:
            eps[m] = predict_noise(unets[m], x[m], t, context)
        finally:
            branches[m].context = None
    return eps, env


@torch.no_grad()
def sample_joint(unets: dict, branches: dict[str, AlignBranch] | None, shapes: dict[str, tuple[int, ...]],
                 cond: torch.Tensor, uncond: torch.Tensor, seeds: Sequence[int], cfg: DiffusionConfig,
                 steps: int, guidance: dict[str, float], eta: float = 0.0, connector_context: str = "self",
                 progress: bool = False) -> dict[str, torch.Tensor]:
    """Latents for every output in `shapes` (per-sample shape), one row per seed; cond/uncond are [B, D]."""
    device = cond.device
    scheduler = ddim_scheduler(cfg)
    scheduler.set_timesteps(steps)
    generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
    outputs = sorted(shapes)

    def noise() -> dict[str, torch.Tensor]:  # per study, outputs in a fixed order: independent of batch makeup
        per_study = [{m: torch.randn(shapes[m], generator=g) for m in outputs} for g in generators]
        return {m: torch.stack([d[m] for d in per_study]).to(device) for m in outputs}

    x = noise()
    context = torch.cat([uncond, cond]).unsqueeze(1)
    timesteps = scheduler.timesteps
    if progress:
        from tqdm import tqdm
        timesteps = tqdm(timesteps, desc="DDIM", leave=False)
    for t in timesteps:
        doubled = {m: torch.cat([x[m], x[m]]) for m in outputs}
        eps, _ = denoise_with_connectors(unets, branches, doubled, t.to(device).expand(2 * len(cond)), context,
                                      connector_context)
        variance = noise() if eta > 0 else {m: None for m in outputs}
        for m in outputs:
            e_u, e_c = eps[m].chunk(2)
            guided = e_u + guidance[m] * (e_c - e_u)
            x[m] = scheduler.step(guided, t, x[m], eta=eta, variance_noise=variance[m]).prev_sample
    return x
