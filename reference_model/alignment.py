"""Cross-modal latent alignment for joint generation (paper §2.3, spec §7).

Each output modality gets an environment encoder V (noisy latent + timestep embedding -> one unit vector) and one
connector cross-attention block per attention-bearing block of its UNet (15 at full size; none on the mid-block).
As in the public code (`UNetMedCoDi_M.forward`), a connector runs after the WHOLE block: on the decoder, a level's
last block ends with its Upsample (X-ray UNets) or square linear (report UNet), and its connector runs after that,
at the upsampled size. Connectors attach through forward hooks on the module that closes each block
(`connector_sites`), so the stock UNets and their checkpoints stay untouched; they act only while a context is set
(joint generation / align training).

Connector context (named setting `connector_context`):
- "self": connector i attends to V_i(z_i) of its own latent. This is what the public CoDi and XGeM code does; the
  released weights need it. Information between outputs then flows only through the shared condition and the
  contrastive training of the V's.
- "others": connector i attends to V_j(z_j) of the other outputs (one token each), as the paper's Eq. 4 describes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.resnet import ResnetBlock2D
from diffusers.models.transformers.transformer_2d import Transformer2DModel
from torch import nn

from xgem_bench.reference_model.report_unet import FCBlock, ReportUNet, SquareLinear, zero_

CONTEXTS = ("self", "others")
#: upstream's GroupNorm32 (torch's default eps) in the environment encoders' ResBlocks; diffusers defaults to 1e-6
GROUPNORM_EPS = 1e-5


class ImageEnvEncoder(nn.Module):
    """conv -> ResBlock -> down -> ResBlock -> down -> ResBlock -> GN-SiLU-conv -> spatial mean -> L2."""

    def __init__(self, latent_channels: int, channels: tuple[int, ...], temb: int, groups: int):
        super().__init__()
        c0, c1, c2, c3 = channels
        self.conv_in = nn.Conv2d(latent_channels, c0, 3, padding=1)
        self.blocks = nn.ModuleList([
            ResnetBlock2D(in_channels=c0, out_channels=c1, temb_channels=temb, groups=groups, eps=GROUPNORM_EPS),
            nn.Conv2d(c1, c1, 3, stride=2, padding=1),
            ResnetBlock2D(in_channels=c1, out_channels=c2, temb_channels=temb, groups=groups, eps=GROUPNORM_EPS),
            nn.Conv2d(c2, c2, 3, stride=2, padding=1),
            ResnetBlock2D(in_channels=c2, out_channels=c3, temb_channels=temb, groups=groups, eps=GROUPNORM_EPS),
        ])
        self.out = nn.Sequential(nn.GroupNorm(groups, c3), nn.SiLU(), nn.Conv2d(c3, c3, 3, padding=1))

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for block in self.blocks:
            h = block(h, temb) if isinstance(block, ResnetBlock2D) else block(h)
        return F.normalize(self.out(h).mean(dim=(2, 3)), dim=-1)


class TextEnvEncoder(nn.Module):
    """Linear -> FCBlocks (with square linears between) -> GN-SiLU-Linear to one vector -> L2."""

    def __init__(self, latent_dim: int, channels: tuple[int, ...], second_dim: int, temb: int, groups: int):
        super().__init__()
        c0, c1, c2, c3 = channels
        self.second_dim = second_dim
        self.stem = nn.Linear(latent_dim, c0 * second_dim)
        self.blocks = nn.ModuleList([FCBlock(c0, c1, second_dim, temb, groups), SquareLinear(c1, second_dim),
                                     FCBlock(c1, c2, second_dim, temb, groups), SquareLinear(c2, second_dim),
                                     FCBlock(c2, c3, second_dim, temb, groups)])
        self.norm = nn.GroupNorm(groups, c3)
        self.out = nn.Linear(c3 * second_dim, c3)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.stem(x).view(len(x), -1, self.second_dim, 1)
        for block in self.blocks:
            h = block(h, temb)
        return F.normalize(self.out(F.silu(self.norm(h)).flatten(1)), dim=-1)


def connector_sites(unet: nn.Module) -> list[tuple[nn.Module, nn.Module]]:
    """(attention block, module whose output the connector transforms) per connector, encoder first then decoder
    (mid-block excluded). The second is the attention itself, except for the last block of a decoder level that
    upsamples: there it is the upsampler, which upstream's output block runs before the connector."""
    if isinstance(unet, ReportUNet):
        return unet.connector_sites()
    sites = [(a, a) for b in unet.down_blocks for a in getattr(b, "attentions", None) or []]
    for block in unet.up_blocks:
        attentions = list(getattr(block, "attentions", None) or [])
        closing = block.upsamplers[0] if block.upsamplers else None
        sites += [(a, closing if closing is not None and i == len(attentions) - 1 else a)
                  for i, a in enumerate(attentions)]
    return sites


def _attention_shape(module: nn.Module) -> tuple[int, int, int]:
    transformer = getattr(module, "transformer", module)
    cfg = transformer.config
    return cfg.in_channels, cfg.num_attention_heads, cfg.norm_num_groups


def time_embedding(unet: nn.Module, t: torch.Tensor) -> torch.Tensor:
    """The UNet's own (frozen) timestep embedding, which the environment encoder reads."""
    if isinstance(unet, ReportUNet):
        return unet.time_embed(t)
    return unet.time_embedding(unet.time_proj(t).to(unet.dtype))


class AlignBranch(nn.Module):
    """Everything the align stage trains for one output modality: V and the connectors of its UNet."""

    def __init__(self, unet: nn.Module, env: nn.Module, env_dim: int):
        super().__init__()
        self.env = env
        connectors = []
        for module, _ in connector_sites(unet):
            channels, heads, groups = _attention_shape(module)
            block = Transformer2DModel(num_attention_heads=heads, attention_head_dim=channels // heads,
                                       in_channels=channels, cross_attention_dim=env_dim, norm_num_groups=groups)
            zero_(block.proj_out)  # a fresh connector is the identity: alignment starts from the trained LDM
            connectors.append(block)
        self.connectors = nn.ModuleList(connectors)
        self.context: torch.Tensor | None = None
        self._handles = []

    def attach(self, unet: nn.Module) -> "AlignBranch":
        self.detach()
        for (_, site), connector in zip(connector_sites(unet), self.connectors):
            self._handles.append(site.register_forward_hook(self._hook(connector)))
        return self

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook(self, connector):
        def hook(module, args, output):
            if self.context is None:
                return output
            h = output[0] if isinstance(output, tuple) else getattr(output, "sample", output)
            h = connector(h, encoder_hidden_states=self.context, return_dict=False)[0]
            if isinstance(output, tuple):
                return (h, *output[1:])
            return h if isinstance(output, torch.Tensor) else type(output)(sample=h)
        return hook


def connector_contexts(env: dict[str, torch.Tensor], mode: str) -> dict[str, torch.Tensor]:
    """Per output, what its connectors attend to: [B, 1, E] (self) or [B, n_outputs-1, E] (others)."""
    if mode not in CONTEXTS:
        raise ValueError(f"unknown connector context {mode!r}; use one of {CONTEXTS}")
    if mode == "self":
        return {m: v.unsqueeze(1) for m, v in env.items()}
    return {m: torch.stack([v for j, v in env.items() if j != m], dim=1) for m in env}


def build_env_encoder(modality: str, config) -> nn.Module:
    temb = 4 * (config.xray_unet.block_out_channels[0] if modality != "report"
                else config.report_unet.model_channels)
    if modality == "report":
        return TextEnvEncoder(config.text_vae.latent_dim, config.align.text_env_channels,
                              config.report_unet.second_dim, temb, config.report_unet.norm_num_groups)
    return ImageEnvEncoder(config.image_vae.latent_channels, config.align.image_env_channels, temb,
                           config.xray_unet.norm_num_groups)


def build_branch(modality: str, unet: nn.Module, config) -> AlignBranch:
    env = build_env_encoder(modality, config)
    channels = config.align.text_env_channels if modality == "report" else config.align.image_env_channels
    return AlignBranch(unet, env, channels[-1])
