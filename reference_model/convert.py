"""Load the authors' `MedCoDi-M.pt` (spec §11) into our modules at the `paper` configuration.

Key layout of the official file: `clip.model.*` (HF CLIP + `temporal_self_attn.*`), `autokl.*` (LDM VAE + video
decoder layers), `optimus.{encoder,decoder}.*`, `model.diffusion_model.unet_{frontal,lateral,text}.*` with
`input_blocks / middle_block / output_blocks / out / time_embed` (LDM naming; with the video architecture a ResBlock
is `X.{i}.0.0.*` and its unused temporal block `X.{i}.0.1.*`), `connecters_out` (environment encoder) and
`input_block_connecters_in / output_block_connecters_in` (connectors). Video layers are dropped; everything our
modules hold must be filled (strict loading), so a layout mismatch fails loudly instead of leaving random weights.
"""
from __future__ import annotations

import re

import torch

from xgem_bench.reference_model.config import MODALITIES, XGeMConfig, paper_config

UNET_PREFIX = "model.diffusion_model.unet_{}."
OFFICIAL_NAMES = {"frontal": "frontal", "lateral": "lateral", "report": "text"}
_PAIR = re.compile(r"^(.+\.\d+\.\d+|middle_block\.\d+)\.0\.(in_layers|emb_layers|out_layers|skip_connection)\.")


def official_missing_reason(variant: str) -> str | None:
    from xgem_bench import weights
    if variant != "xgem":
        return "the authors released no CoDi-XR checkpoint; train one with `xgem-bench train all --variant codi-xr`"
    return weights.missing_weights_reason(("xgem-official", "xgem-tokenizer-clip", "xgem-tokenizer-bert",
                                           "xgem-tokenizer-gpt2"))


def sub(state: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def flatten_video(state: dict) -> dict:
    """`P.0.*` of a [ResBlock, temporal] pair P (`X.{i}.{j}` or `middle_block.{j}`) -> `P.*`; `P.1.*` dropped:
    the SpatioTemporalAttention of the video architecture never runs on 2-D input."""
    pairs = {m.group(1) for k in state if (m := _PAIR.match(k))}
    out = {}
    for key, value in state.items():
        owner = next((p for p in pairs if key.startswith(p + ".")), None)
        if owner is None:
            out[key] = value
        elif key.startswith(owner + ".0."):
            out[owner + key[len(owner) + 2:]] = value
    return out


def drop_autokl_video(state: dict) -> dict:
    """AutoKL with the video architecture adds SpatioTemporalAttention to its decoder (`decoder.mid.video_att`,
    `decoder.up.{i}.video_attn.{j}`); it only runs on frames, never on 2-D images."""
    return {k: v for k, v in state.items() if not re.match(r"decoder\.(mid\.video_att|up\.\d+\.video_attn)\.", k)}


def _linear(value: torch.Tensor) -> torch.Tensor:
    """CoDi's 1x1 Conv2d weights inside FCBlocks are linear maps."""
    return value.reshape(value.shape[0], -1) if value.ndim == 4 else value


def convert_fc_block(state: dict, src: str, dst: str) -> dict:
    names = {"in_layers.0": "in_layers.0", "in_layers.2": "in_layers.2", "emb_layers.1": "emb_layers.1",
             "out_layers.0": "out_layers.0", "out_layers.3": "out_layers.2", "skip_connection": "skip"}
    return {f"{dst}.{new}.{p}": _linear(state[f"{src}.{old}.{p}"]) for old, new in names.items()
            for p in ("weight", "bias") if f"{src}.{old}.{p}" in state}


def _transformer(state: dict, src: str, dst: str) -> dict:
    """LDM SpatialTransformer names equal diffusers Transformer2DModel names inside the block."""
    return {f"{dst}.{k[len(src) + 1:]}": v for k, v in state.items() if k.startswith(src + ".")}


def convert_report_unet(state: dict, unet) -> dict:
    """UNetModel0D_MultiDim core -> ReportUNet (same block order; FCBlock convs become linears)."""
    from xgem_bench.reference_model.report_unet import Attention, FCBlock, SquareLinear

    out = {"time_embedding.linear_1.weight": state["time_embed.0.weight"],
           "time_embedding.linear_1.bias": state["time_embed.0.bias"],
           "time_embedding.linear_2.weight": state["time_embed.2.weight"],
           "time_embedding.linear_2.bias": state["time_embed.2.bias"],
           "stem.weight": state["input_blocks.0.0.weight"], "stem.bias": state["input_blocks.0.0.bias"],
           "out_norm.weight": state["out.0.weight"], "out_norm.bias": state["out.0.bias"],
           "out.weight": state["out.2.weight"], "out.bias": state["out.2.bias"]}
    for ours, theirs, stages in (("down", "input_blocks", [None, *unet.down]), ("middle", "middle_block", None),
                                 ("up", "output_blocks", list(unet.up))):
        groups = [(f"{ours}", f"{theirs}", unet.middle)] if stages is None else \
            [(f"{ours}.{i - (ours == 'down')}", f"{theirs}.{i}", s) for i, s in enumerate(stages) if s is not None]
        for dst, src, stage in groups:
            for j, layer in enumerate(stage):
                if isinstance(layer, FCBlock):
                    out.update(convert_fc_block(state, f"{src}.{j}", f"{dst}.{j}"))
                elif isinstance(layer, Attention):
                    out.update(_transformer(state, f"{src}.{j}", f"{dst}.{j}.transformer"))
                elif isinstance(layer, SquareLinear):
                    out.update({f"{dst}.{j}.linear.{p}": state[f"{src}.{j}.{p}"] for p in ("weight", "bias")})
    return out


def convert_text_env(state: dict) -> dict:
    """connecters_out of the report UNet -> TextEnvEncoder."""
    out = {"stem.weight": state["0.0.weight"], "stem.bias": state["0.0.bias"],
           "norm.weight": state["6.0.weight"], "norm.bias": state["6.0.bias"],
           "out.weight": state["6.2.weight"], "out.bias": state["6.2.bias"]}
    for ours, theirs in ((0, 1), (2, 3), (4, 5)):
        out.update(convert_fc_block(state, f"{theirs}.0", f"blocks.{ours}"))
    for ours, theirs in ((1, 2), (3, 4)):
        out.update({f"blocks.{ours}.linear.{p}": state[f"{theirs}.0.{p}"] for p in ("weight", "bias")})
    return out


def convert_image_env(state: dict) -> dict:
    """connecters_out of an X-ray UNet (after flatten_video) -> ImageEnvEncoder (diffusers ResnetBlock2D names)."""
    res = {"in_layers.0": "norm1", "in_layers.2": "conv1", "emb_layers.1": "time_emb_proj",
           "out_layers.0": "norm2", "out_layers.3": "conv2", "skip_connection": "conv_shortcut"}
    out = {"conv_in.weight": state["0.0.weight"], "conv_in.bias": state["0.0.bias"],
           "out.0.weight": state["6.0.weight"], "out.0.bias": state["6.0.bias"],
           "out.2.weight": state["6.2.weight"], "out.2.bias": state["6.2.bias"]}
    for ours, theirs in ((0, 1), (2, 3), (4, 5)):
        for old, new in res.items():
            for p in ("weight", "bias"):
                if f"{theirs}.0.{old}.{p}" in state:
                    out[f"blocks.{ours}.{new}.{p}"] = state[f"{theirs}.0.{old}.{p}"]
    for ours, theirs in ((1, 2), (3, 4)):
        out.update({f"blocks.{ours}.{p}": state[f"{theirs}.0.op.{p}"] for p in ("weight", "bias")})
    return out


def convert_connectors(state: dict) -> dict:
    """input_/output_block_connecters_in.{k}.0 -> connectors.{n}, encoder then decoder, in block order."""
    out, n = {}, 0
    for side in ("input_block_connecters_in", "output_block_connecters_in"):
        blocks = sorted({int(k.split(".")[1]) for k in state if k.startswith(side + ".")})
        for k in blocks:
            out.update(_transformer(state, f"{side}.{k}.0", f"connectors.{n}"))
            n += 1
    return out


def convert_optimus(state: dict) -> dict:
    out = {}
    for key, value in sub(state, "optimus.").items():
        if key == "encoder.linear.weight":
            out["encoder_linear.weight"] = value
        elif key == "decoder.transformer.linear.weight":
            out["memory.weight"] = value
        elif key == "decoder.transformer.linear_emb.weight":
            out["embedding.weight"] = value
        elif key.endswith((".attn.bias", ".attn.masked_bias", "position_ids")):
            continue  # buffers, not weights: the old GPT-2 code's causal masks, BERT's position ids
        else:
            out[key] = value
    return out


def convert_clip(state: dict) -> dict:
    return {k: v for k, v in sub(state, "clip.model.").items()
            if "temporal_self_attn" not in k and not k.endswith("position_ids")}


def load_strict(module, state: dict, what: str):
    """`state` into `module`, refusing a missing or unknown tensor (or one of another shape) by name."""
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shape mismatches: another architecture or vocabulary
        raise ValueError(f"checkpoint does not match our {what}: {str(error)[:500]}") from None
    if missing or unexpected:
        raise ValueError(f"checkpoint does not match our {what}: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    return module


def convert_autokl(state: dict, vae) -> dict:
    """`autokl.*` (LDM names, video decoder layers) -> diffusers AutoencoderKL names."""
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    vae_state = {"first_stage_model." + k: v for k, v in drop_autokl_video(sub(state, "autokl.")).items()}
    return convert_ldm_vae_checkpoint(vae_state, vae.config)


def unet_part(state: dict, modality: str) -> dict:
    """One output's UNet with its environment encoder and connectors, video layers flattened away."""
    return flatten_video(sub(state, UNET_PREFIX.format(OFFICIAL_NAMES[modality])))


def convert_unet(part: dict, modality: str, unet) -> dict:
    """The denoiser core of `unet_part` -> our UNet's names (diffusers' LDM converter for the X-ray UNets)."""
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    if modality == "report":
        return convert_report_unet(part, unet)
    core = {"model.diffusion_model." + k: v for k, v in part.items()
            if not k.startswith(("connecters_out", "input_block_connecters_in", "output_block_connecters_in"))}
    return convert_ldm_unet_checkpoint(core, unet.config)


def convert_branch(part: dict, modality: str) -> dict:
    """The environment encoder and connectors of `unet_part` -> our AlignBranch's names."""
    env = sub(part, "connecters_out.")
    env = convert_text_env(env) if modality == "report" else convert_image_env(env)
    return {**{"env." + k: v for k, v in env.items()}, **convert_connectors(part)}


def convert_official(state: dict, config: XGeMConfig, tokenizers, load_vae_and_xray: bool = True):
    """Our XGeM from an official-layout state dict."""
    from xgem_bench.reference_model import model as xm
    from xgem_bench.reference_model.alignment import build_branch

    prompt = xm.build_prompt_encoder(config, tokenizers)
    load_strict(prompt.clip, convert_clip(state), "CLIP")
    text_vae = load_strict(xm.build_text_vae(config, tokenizers), convert_optimus(state), "Optimus")
    unets, branches, image_vae = {}, {}, None
    if load_vae_and_xray:
        image_vae = xm.build_image_vae(config)
        load_strict(image_vae, convert_autokl(state, image_vae), "AutoKL")
    for m in MODALITIES:
        if m != "report" and not load_vae_and_xray:
            continue
        part = unet_part(state, m)
        unet = xm.build_unet(m, config)
        load_strict(unet, convert_unet(part, m, unet), f"{m} UNet")
        branch = load_strict(build_branch(m, unet, config), convert_branch(part, m), f"{m} alignment blocks")
        unets[m], branches[m] = unet, branch
    return xm.XGeM(config, tokenizers, prompt, image_vae, text_vae, unets, branches)


def load_official(device: str = "cpu", config: XGeMConfig | None = None):
    """The released XGeM from the weights manager's MedCoDi-M.pt (`paper` configuration unless `config` says
    otherwise, public-code settings)."""
    from xgem_bench import weights
    from xgem_bench.reference_model.tokenizer import pretrained_tokenizers

    config = config or paper_config()
    tokenizers = pretrained_tokenizers(config.clip.max_length, config.text_vae.max_length)
    state = torch.load(weights.require("xgem-official"), map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    return convert_official(state, config, tokenizers).to(device).eval()
