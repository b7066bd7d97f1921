"""Our modules written in the key layout of the authors' checkpoints (XGeM's MedCoDi-M.pt, CoDi's three files), for
conversion tests at small sizes.

The layout follows the rules of the public CoDi/XGeM module definitions, written out here independently of
`reference_model/convert.py`: LDM block indices (`input_blocks / middle_block / output_blocks`), the LDM VAE
(`encoder.down.{i}.block.{j}`, `mid.attn_1.{q,k,v}` as 1x1 convs, the decoder's `up` list in reverse order), FCBlocks
as 1x1 Conv2d with Dropout at `out_layers.2`, Linear_MultiDim as bare nn.Linear, SpatialTransformer names, and the
video architecture: every ResBlock nested as `[ResBlock, SpatioTemporalAttention]` (`P.0.*`, `P.1.*`), temporal
attention in the CLIP towers and in the AutoKL decoder. The video tensors carry random values: conversion must drop
them.
"""
from __future__ import annotations

import re

import torch

from xgem_bench.reference_model.report_unet import Attention, FCBlock, SquareLinear

_RES = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1", "norm2": "out_layers.0",
        "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
_FC = {"in_layers.0": "in_layers.0", "in_layers.2": "in_layers.2", "emb_layers.1": "emb_layers.1",
       "out_layers.0": "out_layers.0", "out_layers.2": "out_layers.3", "skip": "skip_connection"}


def _video_block(out: dict, owner: str, channels: int) -> None:
    """The unused SpatioTemporalAttention beside a ResBlock (`owner.1.*`)."""
    out[f"{owner}.1.norm.weight"] = torch.randn(channels)
    out[f"{owner}.1.to_qkv.weight"] = torch.randn(3 * channels, channels)


def _resblock(s: dict, src: str, dst: str, out: dict, video: bool) -> None:
    """A diffusers ResnetBlock2D `src` as an LDM ResBlock at `dst` (`dst.0.*` + temporal `dst.1.*` with video)."""
    target = f"{dst}.0" if video else dst
    for key, value in s.items():
        if key.startswith(src + "."):
            name, param = key[len(src) + 1:].rsplit(".", 1)
            out[f"{target}.{_RES[name]}.{param}"] = value
    if video:
        _video_block(out, dst, s[f"{src}.norm1.weight"].shape[0])


def _copy(s: dict, src: str, dst: str, out: dict) -> None:
    out.update({f"{dst}.{k[len(src) + 1:]}": v for k, v in s.items() if k.startswith(src + ".")})


def official_xray_unet(unet, video: bool = True) -> dict:
    """A diffusers UNet2DConditionModel as CoDi's UNetModel2D (`input_blocks.0.0` conv in, `out.2` conv out)."""
    s, n = unet.state_dict(), unet.config.layers_per_block
    out = {"time_embed.0.weight": s["time_embedding.linear_1.weight"], "time_embed.0.bias": s["time_embedding.linear_1.bias"],
           "time_embed.2.weight": s["time_embedding.linear_2.weight"], "time_embed.2.bias": s["time_embedding.linear_2.bias"],
           "input_blocks.0.0.weight": s["conv_in.weight"], "input_blocks.0.0.bias": s["conv_in.bias"],
           "out.0.weight": s["conv_norm_out.weight"], "out.0.bias": s["conv_norm_out.bias"],
           "out.2.weight": s["conv_out.weight"], "out.2.bias": s["conv_out.bias"]}
    for i, block in enumerate(unet.down_blocks):
        for j in range(n):
            index = i * (n + 1) + j + 1
            _resblock(s, f"down_blocks.{i}.resnets.{j}", f"input_blocks.{index}.0", out, video)
            if getattr(block, "attentions", None):
                _copy(s, f"down_blocks.{i}.attentions.{j}", f"input_blocks.{index}.1", out)
        if block.downsamplers:
            _copy(s, f"down_blocks.{i}.downsamplers.0.conv", f"input_blocks.{(i + 1) * (n + 1)}.0.op", out)
    _resblock(s, "mid_block.resnets.0", "middle_block.0", out, video)
    _copy(s, "mid_block.attentions.0", "middle_block.1", out)
    _resblock(s, "mid_block.resnets.1", "middle_block.2", out, video)
    for i, block in enumerate(unet.up_blocks):
        has_attention = bool(getattr(block, "attentions", None))
        for j in range(n + 1):
            index = i * (n + 1) + j
            _resblock(s, f"up_blocks.{i}.resnets.{j}", f"output_blocks.{index}.0", out, video)
            if has_attention:
                _copy(s, f"up_blocks.{i}.attentions.{j}", f"output_blocks.{index}.1", out)
        if block.upsamplers:
            _copy(s, f"up_blocks.{i}.upsamplers.0.conv", f"output_blocks.{i * (n + 1) + n}.{1 + has_attention}.conv",
                  out)
    return out


def official_image_branch(branch, unet, video: bool = True) -> dict:
    """ImageEnvEncoder as `connecters_out` (ResBlocks at 1, 3, 5; Downsample `op` at 2, 4; GN-SiLU-conv at 6) and the
    connectors at the block indices of the attention-bearing blocks."""
    s = branch.state_dict()
    out = {"connecters_out.0.0.weight": s["env.conv_in.weight"], "connecters_out.0.0.bias": s["env.conv_in.bias"]}
    out.update({f"connecters_out.6.{i}.{p}": s[f"env.out.{i}.{p}"] for i in (0, 2) for p in ("weight", "bias")})
    for ours, theirs in ((0, 1), (2, 3), (4, 5)):
        _resblock(s, f"env.blocks.{ours}", f"connecters_out.{theirs}.0", out, video)
    for ours, theirs in ((1, 2), (3, 4)):
        out.update({f"connecters_out.{theirs}.0.op.{p}": s[f"env.blocks.{ours}.{p}"] for p in ("weight", "bias")})
    n = unet.config.layers_per_block
    slots = [f"input_block_connecters_in.{i * (n + 1) + j + 1}.0" for i, b in enumerate(unet.down_blocks)
             if getattr(b, "attentions", None) for j in range(n)]
    slots += [f"output_block_connecters_in.{i * (n + 1) + j}.0" for i, b in enumerate(unet.up_blocks)
              if getattr(b, "attentions", None) for j in range(n + 1)]
    for k, slot in enumerate(slots):
        _copy(s, f"connectors.{k}", slot, out)
    return out


def _fc_official(s: dict, src: str, dst: str, out: dict) -> None:
    for key, value in s.items():
        if not key.startswith(src + "."):
            continue
        rest = key[len(src) + 1:]
        for ours, theirs in _FC.items():
            if rest.startswith(ours + "."):
                conv = theirs in ("in_layers.2", "out_layers.3", "skip_connection") and rest.endswith("weight")
                out[f"{dst}.{theirs}{rest[len(ours):]}"] = value[:, :, None, None] if conv else value


def official_report_unet(unet) -> dict:
    """Our ReportUNet's weights written in UNetModel0D_MultiDim's layout."""
    s = unet.state_dict()
    out = {"time_embed.0.weight": s["time_embedding.linear_1.weight"], "time_embed.0.bias": s["time_embedding.linear_1.bias"],
           "time_embed.2.weight": s["time_embedding.linear_2.weight"], "time_embed.2.bias": s["time_embedding.linear_2.bias"],
           "input_blocks.0.0.weight": s["stem.weight"], "input_blocks.0.0.bias": s["stem.bias"],
           "out.0.weight": s["out_norm.weight"], "out.0.bias": s["out_norm.bias"],
           "out.2.weight": s["out.weight"], "out.2.bias": s["out.bias"]}
    groups = [(f"down.{i}", f"input_blocks.{i + 1}", st) for i, st in enumerate(unet.down)]
    groups += [("middle", "middle_block", unet.middle)]
    groups += [(f"up.{i}", f"output_blocks.{i}", st) for i, st in enumerate(unet.up)]
    for ours, theirs, stage in groups:
        for j, layer in enumerate(stage):
            if isinstance(layer, FCBlock):
                _fc_official(s, f"{ours}.{j}", f"{theirs}.{j}", out)
            elif isinstance(layer, Attention):
                _copy(s, f"{ours}.{j}.transformer", f"{theirs}.{j}", out)
            elif isinstance(layer, SquareLinear):
                out.update({f"{theirs}.{j}.{p}": s[f"{ours}.{j}.linear.{p}"] for p in ("weight", "bias")})
    return out


def official_text_branch(branch, unet) -> dict:
    s = branch.state_dict()
    out = {"connecters_out.0.0.weight": s["env.stem.weight"], "connecters_out.0.0.bias": s["env.stem.bias"],
           "connecters_out.6.0.weight": s["env.norm.weight"], "connecters_out.6.0.bias": s["env.norm.bias"],
           "connecters_out.6.2.weight": s["env.out.weight"], "connecters_out.6.2.bias": s["env.out.bias"]}
    for ours, theirs in ((0, 1), (2, 3), (4, 5)):
        _fc_official(s, f"env.blocks.{ours}", f"connecters_out.{theirs}.0", out)
    for ours, theirs in ((1, 2), (3, 4)):
        out.update({f"connecters_out.{theirs}.0.{p}": s[f"env.blocks.{ours}.linear.{p}"] for p in ("weight", "bias")})
    attn_in = [i + 1 for i, st in enumerate(unet.down) if any(isinstance(x, Attention) for x in st)]
    attn_out = [i for i, st in enumerate(unet.up) if any(isinstance(x, Attention) for x in st)]
    slots = [f"input_block_connecters_in.{k}.0" for k in attn_in] + \
            [f"output_block_connecters_in.{k}.0" for k in attn_out]
    for n, slot in enumerate(slots):
        _copy(s, f"connectors.{n}", slot, out)
    return out


_VAE_RES = {"conv_shortcut": "nin_shortcut"}
_VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def official_autokl(vae, video: bool = True) -> dict:
    """A diffusers AutoencoderKL in the LDM layout of CoDi's `autokl` (plus the decoder's video attention)."""
    levels = len(vae.config.block_out_channels)
    out = {}
    for key, value in vae.state_dict().items():
        new = key
        new = re.sub(r"down_blocks\.(\d+)\.resnets\.", r"down.\1.block.", new)
        new = re.sub(r"down_blocks\.(\d+)\.downsamplers\.0\.", r"down.\1.downsample.", new)
        new = re.sub(r"up_blocks\.(\d+)\.resnets\.",
                     lambda m: f"up.{levels - 1 - int(m.group(1))}.block.", new)
        new = re.sub(r"up_blocks\.(\d+)\.upsamplers\.0\.",
                     lambda m: f"up.{levels - 1 - int(m.group(1))}.upsample.", new)
        new = re.sub(r"mid_block\.resnets\.(\d)\.", lambda m: f"mid.block_{int(m.group(1)) + 1}.", new)
        new = new.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
        if ".mid_block.attentions.0." in new:
            owner, rest = new.split(".mid_block.attentions.0.")
            name, param = rest.rsplit(".", 1)
            new = f"{owner}.mid.attn_1.{_VAE_ATTN[name]}.{param}"
            value = value[:, :, None, None] if param == "weight" and name != "group_norm" else value
        out[new] = value
    if video:
        top = vae.config.block_out_channels[-1]
        _video_block(out, "decoder.mid.video_att", top)
        for level in range(1, levels):
            for j in range(vae.config.layers_per_block + 1):
                out[f"decoder.up.{level}.video_attn.{j}.norm.weight"] = torch.randn(
                    vae.config.block_out_channels[level])
    return {"autokl." + k: v for k, v in out.items()}


def official_optimus(text_vae) -> dict:
    names = {"encoder_linear.weight": "encoder.linear.weight", "memory.weight": "decoder.transformer.linear.weight",
             "embedding.weight": "decoder.transformer.linear_emb.weight"}
    out = {"optimus." + names.get(k, k): v for k, v in text_vae.state_dict().items()}
    for i in range(text_vae.config.gpt2_layers):  # the causal-mask buffers of the old GPT-2 code
        n = text_vae.config.gpt2_max_positions
        out[f"optimus.decoder.transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(n, n))[None, None]
        out[f"optimus.decoder.transformer.h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    return out


def official_clip(clip, video: bool = True) -> dict:
    out = {"clip.model." + k: v for k, v in clip.state_dict().items()}
    if video:
        width = clip.config.vision_config.hidden_size
        out["clip.model.vision_model.encoder.layers.0.temporal_self_attn.q_proj.weight"] = torch.randn(width, width)
    return out


OFFICIAL_UNET = {"frontal": "unet_frontal", "lateral": "unet_lateral", "report": "unet_text"}


def official_xgem(model, video: bool = True) -> dict:
    """A whole XGeM (reference_model.model.XGeM with every branch) as MedCoDi-M.pt's state dict."""
    state = {**official_clip(model.prompt.clip, video), **official_optimus(model.text_vae),
             **official_autokl(model.image_vae, video)}
    for m, unet in model.unets.items():
        if m == "report":
            part = {**official_report_unet(unet), **official_text_branch(model.branches[m], unet)}
        else:
            part = {**official_xray_unet(unet, video), **official_image_branch(model.branches[m], unet, video)}
        state.update({f"model.diffusion_model.{OFFICIAL_UNET[m]}.{k}": v for k, v in part.items()})
    return state


def codi_files(state: dict) -> tuple[dict, dict, dict]:
    """An official XGeM state dict cut into CoDi's three released files (encoders with CoDi's audio parts; the
    frontal UNet as CoDi's one `unet_image`; the report UNet), as CoDi distributes them."""
    encoders = {k: v for k, v in state.items() if k.split(".")[0] in ("clip", "autokl", "optimus")}
    encoders["clap.model.audio_branch.conv.weight"] = torch.randn(2, 2)  # dropped: no audio in chest X-rays
    vision = {k.replace(".unet_frontal.", ".unet_image."): v for k, v in state.items() if ".unet_frontal." in k}
    text = {k: v for k, v in state.items() if ".unet_text." in k}
    return encoders, vision, text


def small_pretrained_config(tokenizers):
    """`tiny` at 32x32 pixels with the standard-tokenizer roles of `paper` (vocabularies sized to `tokenizers`) and
    the latent scales that training would have measured."""
    from xgem_bench.reference_model.config import tiny_config

    config = tiny_config()
    config.name, config.tokenizer = "small-pretrained", "pretrained"
    config.image_vae.image_size = config.clip.image_size = 32
    config.image_vae.scaling_factor, config.text_vae.latent_scale = 0.5, 2.0
    config.clip.text_vocab = tokenizers.clip.vocab_size
    config.text_vae.bert_vocab = tokenizers.encoder.vocab_size
    config.text_vae.gpt2_vocab = tokenizers.decoder.vocab_size
    return config


def random_xgem(config, tokenizers):
    """Every component of an XGeM with random weights (no zero-initialised layer may hide a misplaced key)."""
    from xgem_bench.reference_model import model as xm
    from xgem_bench.reference_model.alignment import build_branch

    torch.manual_seed(0)
    unets = {m: xm.build_unet(m, config) for m in ("frontal", "lateral", "report")}
    model = xm.XGeM(config, tokenizers, xm.build_prompt_encoder(config, tokenizers), xm.build_image_vae(config),
                    xm.build_text_vae(config, tokenizers), unets,
                    {m: build_branch(m, u, config) for m, u in unets.items()})
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.05)
    return model.eval()


def write_small_codi(folder):
    """CoDi's three files and the standard tokenizers, built at small size in the upstream formats and imported
    through the weights manager; the files stay in `folder` under CoDi's released names. Returns the source model
    (its lateral UNet and branch = its frontal ones, as CoDi has one vision UNet) and the xgem_config.json that sizes
    the architecture."""
    from pathlib import Path

    from upstream_tokenizers import write_upstream_tokenizers

    from xgem_bench import weights
    from xgem_bench.adapters.codi import CODI_WEIGHTS
    from xgem_bench.reference_model.tokenizer import pretrained_tokenizers

    folder = Path(folder)
    for name, path in write_upstream_tokenizers(folder / "tokenizers").items():
        weights.import_file(name, path)
    tokenizers = pretrained_tokenizers(64, 64)
    config = small_pretrained_config(tokenizers)
    config.save(folder / "xgem_config.json")
    source = random_xgem(config, tokenizers)
    source.unets["lateral"].load_state_dict(source.unets["frontal"].state_dict())
    source.branches["lateral"].load_state_dict(source.branches["frontal"].state_dict())
    for role, part in zip(("encoders", "vision", "text"), codi_files(official_xgem(source))):
        path = folder / weights.get(CODI_WEIGHTS[role]).filename
        torch.save(part, path)
        weights.import_file(CODI_WEIGHTS[role], path)
    return source, folder / "xgem_config.json"
