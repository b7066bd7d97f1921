"""XGeM's joint denoiser as the public code computes it, for tests of computation order.

Written from danielemolino/XGeM `core/models/latent_diffusion/diffusion_unet.py` (`UNetMedCoDi_M.forward`, the same
loop as CoDi's `UNetModel_CoDi`) and its CLIP/sampler wrappers, independently of `reference_model/alignment.py`
(which uses forward hooks) and `diffusion.py`. It walks our modules' parameters in upstream's block structure:

- conditioning: per condition modality the pair [uncond; cond] (CLIP of "" / of the blank image), mixed with
  weights normalised to sum 1 (`context += condition[i] * norm_weights[i]`);
- environment encoders (`connecters_out`) run on the noisy inputs before the UNets, then mean over space and L2;
- `input_blocks`: conv in (a block with no connector), per level its [ResBlock, SpatialTransformer] blocks, each
  followed by its connector where the level has one, then the level's Downsample as its own block (no connector);
  the skip is taken AFTER the connector;
- `middle_block`: ResBlock, SpatialTransformer, ResBlock (no connector);
- `output_blocks`: cat skip, ResBlock, SpatialTransformer, and on a level's last block its Upsample (Linear_MultiDim
  in the report UNet); the connector runs after the WHOLE block;
- `out`: norm, SiLU, conv / linear. Connectors run only when more than one output is generated.

Upstream builds connectors where `with_connector[level]` is set; in XGeM's and CoDi's configurations this equals
`with_attn[level]`, so a block has a connector exactly when it has cross-attention, as here.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.resnet import ResnetBlock2D

from xgem_bench.reference_model.report_unet import Attention, FCBlock, ReportUNet


def _xray_blocks(unet):
    """(input blocks, middle, output blocks) of a diffusers UNet2DConditionModel in LDM order; a block is a list of
    ("res" | "attn" | "sample", module) and a flag saying whether it carries a connector."""
    n = unet.config.layers_per_block
    inputs = [([("sample", unet.conv_in)], False)]
    for block in unet.down_blocks:
        attentions = getattr(block, "attentions", None) or []
        for j in range(n):
            layers = [("res", block.resnets[j])] + ([("attn", attentions[j])] if attentions else [])
            inputs.append((layers, bool(attentions)))
        if block.downsamplers:
            inputs.append(([("sample", block.downsamplers[0])], False))
    mid = unet.mid_block
    middle = [("res", mid.resnets[0]), ("attn", mid.attentions[0]), ("res", mid.resnets[1])]
    outputs = []
    for block in unet.up_blocks:
        attentions = getattr(block, "attentions", None) or []
        for j in range(n + 1):
            layers = [("res", block.resnets[j])] + ([("attn", attentions[j])] if attentions else [])
            if j == n and block.upsamplers:
                layers.append(("sample", block.upsamplers[0]))
            outputs.append((layers, bool(attentions)))
    return inputs, middle, outputs


def _report_blocks(unet: ReportUNet):
    def kinds(stage):
        return [("attn" if isinstance(m, Attention) else "res" if isinstance(m, FCBlock) else "linear", m)
                for m in stage]
    inputs = [([], False)]  # the stem (Linear_MultiDim to [C, second_dim, 1]) runs before the loop
    inputs += [(kinds(stage), any(isinstance(m, Attention) for m in stage)) for stage in unet.down]
    outputs = [(kinds(stage), any(isinstance(m, Attention) for m in stage)) for stage in unet.up]
    return inputs, kinds(unet.middle), outputs


def _run_block(layers, h, emb, context, report: bool):
    for kind, module in layers:
        if kind == "res":
            h = module(h, emb)
        elif kind == "attn":
            h = module(h, context) if report else module(h, encoder_hidden_states=context, return_dict=False)[0]
        elif kind == "linear":
            h = module(h, emb)
        else:
            h = module(h)
    return h


def _embedding(unet, t):
    if isinstance(unet, ReportUNet):
        return unet.time_embed(t)
    return unet.time_embedding(unet.time_proj(t))


def _environment(branch, unet, x, emb):
    """`connecters_out`: stem, ResBlocks and downsamplers with the time embedding, norm-SiLU-out; mean; L2."""
    env = branch.env
    if isinstance(unet, ReportUNet):
        h = env.stem(x).view(len(x), -1, env.second_dim, 1)
        for block in env.blocks:
            h = block(h, emb)
        v = env.out(F.silu(env.norm(h)).flatten(1))
    else:
        h = env.conv_in(x)
        for block in env.blocks:
            h = block(h, emb) if isinstance(block, ResnetBlock2D) else block(h)
        v = env.out(h).mean(dim=(2, 3))
    v = v.unsqueeze(1)
    return v / torch.norm(v, dim=-1, keepdim=True)


def upstream_eps(unets: dict, branches: dict, x: dict[str, torch.Tensor], t: torch.Tensor,
                 context: torch.Tensor) -> dict[str, torch.Tensor]:
    """UNetMedCoDi_M.forward for the outputs in `x` (modality -> noisy latent), all sharing `context` [B, 1, D]."""
    outputs = list(x)
    emb = {m: _embedding(unets[m], t) for m in outputs}
    structure = {m: _report_blocks(unets[m]) if isinstance(unets[m], ReportUNet) else _xray_blocks(unets[m])
                 for m in outputs}
    joint = len(outputs) > 1
    h_con = {m: _environment(branches[m], unets[m], x[m], emb[m]) for m in outputs} if joint else None
    connectors = {m: iter(branches[m].connectors) for m in outputs} if joint else None
    report = {m: isinstance(unets[m], ReportUNet) for m in outputs}

    h = {m: (unets[m].stem(x[m]).view(len(x[m]), -1, unets[m].second_dim, 1) if report[m] else x[m])
         for m in outputs}
    skips = {m: [] for m in outputs}
    for m in outputs:
        for layers, has_connector in structure[m][0]:
            h[m] = _run_block(layers, h[m], emb[m], context, report[m])
            if has_connector and joint:
                h[m] = next(connectors[m])(h[m], encoder_hidden_states=h_con[m], return_dict=False)[0]
            skips[m].append(h[m])
        h[m] = _run_block(structure[m][1], h[m], emb[m], context, report[m])
        for layers, has_connector in structure[m][2]:
            h[m] = _run_block(layers, torch.cat([h[m], skips[m].pop()], dim=1), emb[m], context, report[m])
            if has_connector and joint:
                h[m] = next(connectors[m])(h[m], encoder_hidden_states=h_con[m], return_dict=False)[0]
    eps = {}
    for m in outputs:
        unet = unets[m]
        if report[m]:
            eps[m] = unet.out(F.silu(unet.out_norm(h[m])).flatten(1))
        else:
            eps[m] = unet.conv_out(unet.conv_act(unet.conv_norm_out(h[m])))
    return eps


def upstream_context(conditions: list[tuple[torch.Tensor, torch.Tensor]], weights: list[float]) -> torch.Tensor:
    """The sampler's conditioning: per condition modality torch.cat([uncond, cond]), then the normalised mix."""
    norm = torch.tensor(weights, dtype=torch.float64) / sum(weights)
    context = 0.0
    for (u, c), w in zip(conditions, norm):
        context = context + torch.cat([u, c]) * float(w)
    return context.unsqueeze(1)
