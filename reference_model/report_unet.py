"""The fully-connected report UNet (spec §5.2; CoDi's `UNetModel0D_MultiDim`).

A 768-d text latent is expanded to a [B, C, 4, 1] map ("C channels x 4 tokens"). Residual blocks are linear layers
on the flattened C*4 features; on attention levels each block is followed by a transformer that treats the 4 positions
as tokens (self-attention) and cross-attends to the shared-space condition. "Down/up-sampling" are square linear maps
(no size change); the decoder concatenates skips along C, as an image UNet does.
"""
from __future__ import annotations

import torch
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.transformers.transformer_2d import Transformer2DModel
from torch import nn

from xgem_bench.reference_model.config import ReportUNetConfig


def zero_(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class FCBlock(nn.Module):
    """ResBlock with linear "1x1 convs" over the flattened [C, second_dim] features."""

    def __init__(self, c_in: int, c_out: int, second_dim: int, temb: int, groups: int):
        super().__init__()
        f_in, f_out = c_in * second_dim, c_out * second_dim
        self.c_out, self.second_dim = c_out, second_dim
        self.in_layers = nn.Sequential(nn.GroupNorm(groups, f_in), nn.SiLU(), nn.Linear(f_in, f_out))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(temb, f_out))
        self.out_layers = nn.Sequential(nn.GroupNorm(groups, f_out), nn.SiLU(), zero_(nn.Linear(f_out, f_out)))
        self.skip = nn.Identity() if f_in == f_out else nn.Linear(f_in, f_out)

    def forward(self, h: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        x = h.flatten(1)
        y = self.out_layers(self.in_layers(x) + self.emb_layers(temb))
        return (self.skip(x) + y).view(len(h), self.c_out, self.second_dim, 1)


class SquareLinear(nn.Module):
    """CoDi's Linear_MultiDim(cur -> cur): the 'down/up-sampling' of the 0-D UNet."""

    def __init__(self, channels: int, second_dim: int):
        super().__init__()
        self.linear = nn.Linear(channels * second_dim, channels * second_dim)

    def forward(self, h: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        return self.linear(h.flatten(1)).view_as(h)


class Attention(nn.Module):
    """SpatialTransformer over the second_dim tokens, cross-attending to the condition."""

    def __init__(self, channels: int, heads: int, context_dim: int, groups: int):
        super().__init__()
        self.transformer = Transformer2DModel(num_attention_heads=heads, attention_head_dim=channels // heads,
                                              in_channels=channels, cross_attention_dim=context_dim,
                                              norm_num_groups=groups)

    def forward(self, h, context):
        return self.transformer(h, encoder_hidden_states=context, return_dict=False)[0]


class ReportUNet(nn.Module):
    """eps-prediction for [B, latent_dim] text latents conditioned on [B, 1, context_dim]."""

    def __init__(self, config: ReportUNetConfig, latent_dim: int, context_dim: int):
        super().__init__()
        mc, sd, g = config.model_channels, config.second_dim, config.norm_num_groups
        temb = 4 * mc
        self.config, self.latent_dim, self.second_dim = config, latent_dim, sd
        self.time_proj = Timesteps(mc, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(mc, temb)
        self.stem = nn.Linear(latent_dim, mc * sd)
        self.down = nn.ModuleList()
        skips, ch = [mc], mc
        for level, mult in enumerate(config.channel_mult):
            for _ in range(config.num_blocks):
                self.down.append(self._stage(FCBlock(ch, mult * mc, sd, temb, g), config, level, context_dim))
                ch = mult * mc
                skips.append(ch)
            if level != len(config.channel_mult) - 1:
                self.down.append(nn.ModuleList([SquareLinear(ch, sd)]))
                skips.append(ch)
        self.middle = nn.ModuleList([FCBlock(ch, ch, sd, temb, g), Attention(ch, config.num_heads, context_dim, g),
                                     FCBlock(ch, ch, sd, temb, g)])
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(config.channel_mult))):
            for i in range(config.num_blocks + 1):
                stage = self._stage(FCBlock(ch + skips.pop(), mult * mc, sd, temb, g), config, level, context_dim)
                ch = mult * mc
                if level and i == config.num_blocks:
                    stage.append(SquareLinear(ch, sd))
                self.up.append(stage)
        self.out_norm = nn.GroupNorm(g, ch)
        self.out = zero_(nn.Linear(ch * sd, latent_dim))
        self.gradient_checkpointing = False

    def enable_gradient_checkpointing(self) -> None:
        """Recompute each stage's activations in the backward pass while training (memory for compute)."""
        self.gradient_checkpointing = True

    @staticmethod
    def _stage(block, config, level, context_dim) -> nn.ModuleList:
        layers = [block]
        if config.attention_levels[level]:
            layers.append(Attention(block.c_out, config.num_heads, context_dim, config.norm_num_groups))
        return nn.ModuleList(layers)

    def connector_sites(self) -> list[tuple[nn.Module, nn.Module]]:
        """(cross-attention block, the stage's last layer) for every stage with attention, encoder then decoder:
        upstream runs each alignment connector after the whole output block, its square linear included."""
        return [(attention, stage[-1]) for stage in (*self.down, *self.up)
                for attention in stage if isinstance(attention, Attention)]

    def time_embed(self, t: torch.Tensor) -> torch.Tensor:
        return self.time_embedding(self.time_proj(t).to(self.stem.weight.dtype))

    @staticmethod
    def _layers(stage, h, temb, context):
        for layer in stage:
            h = layer(h, context) if isinstance(layer, Attention) else layer(h, temb)
        return h

    def _run(self, stage, h, temb, context):
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            from torch.utils.checkpoint import checkpoint
            return checkpoint(self._layers, stage, h, temb, context, use_reentrant=False)
        return self._layers(stage, h, temb, context)

    def forward(self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        if t.ndim == 0:
            t = t.expand(len(x))
        temb = self.time_embed(t)
        h = self.stem(x).view(len(x), -1, self.second_dim, 1)
        skips = [h]
        for stage in self.down:
            h = self._run(stage, h, temb, context)
            skips.append(h)
        h = self._run(self.middle, h, temb, context)
        for stage in self.up:
            h = self._run(stage, torch.cat([h, skips.pop()], dim=1), temb, context)
        return self.out(torch.nn.functional.silu(self.out_norm(h)).flatten(1))
