"""Conversion from the official MedCoDi-M.pt key layout (spec §11), on state dicts written in that layout at tiny size.

The official layout is produced here from the rules of the public CoDi/XGeM module definitions (LDM block indices,
FCBlocks as 1x1 Conv2d with Dropout at out_layers.2, Linear_MultiDim as bare nn.Linear, SpatialTransformer names,
video [ResBlock, temporal] pairs), then converted back; the converted model must compute exactly what the source did.
"""
import torch

from xgem_bench.reference_model import model as xm
from xgem_bench.reference_model.alignment import build_branch, time_embedding
from xgem_bench.reference_model.convert import (convert_clip, convert_connectors, convert_optimus,
                                                convert_report_unet, convert_text_env, flatten_video)
from xgem_bench.reference_model.report_unet import Attention, FCBlock, SquareLinear

from conftest import fast_config


def _fc_official(block_state: dict, src: str, dst: str, out: dict, video: bool = False) -> None:
    names = {"in_layers.0": "in_layers.0", "in_layers.2": "in_layers.2", "emb_layers.1": "emb_layers.1",
             "out_layers.0": "out_layers.0", "out_layers.2": "out_layers.3", "skip": "skip_connection"}
    for key, value in block_state.items():
        if not key.startswith(src + "."):
            continue
        rest = key[len(src) + 1:]
        for ours, theirs in names.items():
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
                prefix = f"{ours}.{j}.transformer."
                out.update({f"{theirs}.{j}.{k[len(prefix):]}": v for k, v in s.items() if k.startswith(prefix)})
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
    # connectors sit at the block indices of the attention-bearing blocks (None elsewhere: no keys)
    attn_in = [i + 1 for i, st in enumerate(unet.down) if any(isinstance(x, Attention) for x in st)]
    attn_out = [i for i, st in enumerate(unet.up) if any(isinstance(x, Attention) for x in st)]
    slots = [f"input_block_connecters_in.{k}.0" for k in attn_in] + \
            [f"output_block_connecters_in.{k}.0" for k in attn_out]
    for n, slot in enumerate(slots):
        prefix = f"connectors.{n}."
        out.update({f"{slot}.{k[len(prefix):]}": v for k, v in s.items() if k.startswith(prefix)})
    return out


def test_report_unet_and_alignment_blocks_convert_exactly():
    torch.manual_seed(0)
    config = fast_config()
    source = xm.build_unet("report", config)
    branch = build_branch("report", source, config)
    for p in list(source.parameters()) + list(branch.parameters()):
        torch.nn.init.normal_(p, std=0.05)  # no zero-initialised layer may hide a misplaced weight
    official = {f"model.diffusion_model.unet_text.{k}": v for k, v in
                {**official_report_unet(source), **official_text_branch(branch, source)}.items()}
    part = {k[len("model.diffusion_model.unet_text."):]: v for k, v in official.items()}

    target = xm.build_unet("report", config)
    missing, unexpected = target.load_state_dict(convert_report_unet(part, target), strict=False)
    assert not missing and not unexpected
    target_branch = build_branch("report", target, config)
    env = {"env." + k: v for k, v in convert_text_env({k[15:]: v for k, v in part.items()
                                                       if k.startswith("connecters_out.")}).items()}
    missing, unexpected = target_branch.load_state_dict({**env, **convert_connectors(part)}, strict=False)
    assert not missing and not unexpected

    x, t, c = torch.randn(3, 32), torch.tensor([1, 400, 999]), torch.randn(3, 1, config.shared_dim)
    with torch.no_grad():
        assert torch.allclose(source(x, t, c), target(x, t, c), atol=1e-6)
        assert torch.allclose(branch.env(x, time_embedding(source, t)), target_branch.env(x, time_embedding(target, t)),
                              atol=1e-6)
        h = torch.randn(3, 32, 4, 1)
        ctx = torch.randn(3, 1, config.align.text_env_channels[-1])
        assert torch.allclose(branch.connectors[0](h, encoder_hidden_states=ctx).sample,
                              target_branch.connectors[0](h, encoder_hidden_states=ctx).sample, atol=1e-6)


def test_video_pairs_are_flattened_and_temporal_blocks_dropped():
    w = torch.zeros(1)
    state = {"input_blocks.0.0.weight": w,  # the stem conv: not a pair
             "input_blocks.1.0.0.in_layers.0.weight": w, "input_blocks.1.0.1.attn.to_q.weight": w,
             "input_blocks.1.1.proj_in.weight": w,  # SpatialTransformer of the same block
             "middle_block.0.0.out_layers.3.weight": w, "middle_block.0.1.norm.weight": w,
             "middle_block.1.norm.weight": w,
             "connecters_out.1.0.0.emb_layers.1.weight": w, "connecters_out.1.0.1.ff.weight": w,
             "input_blocks.4.0.in_layers.0.weight": w}  # a non-video ResBlock stays as it is
    assert set(flatten_video(state)) == {
        "input_blocks.0.0.weight", "input_blocks.1.0.in_layers.0.weight", "input_blocks.1.1.proj_in.weight",
        "middle_block.0.out_layers.3.weight", "middle_block.1.norm.weight", "connecters_out.1.0.emb_layers.1.weight",
        "input_blocks.4.0.in_layers.0.weight"}


def test_clip_and_optimus_keys():
    w = torch.zeros(1)
    clip = convert_clip({"clip.model.text_model.embeddings.token_embedding.weight": w,
                         "clip.model.vision_model.encoder.layers.0.temporal_self_attn.q.weight": w,
                         "autokl.encoder.conv_in.weight": w})
    assert list(clip) == ["text_model.embeddings.token_embedding.weight"]
    optimus = convert_optimus({"optimus.encoder.linear.weight": w, "optimus.encoder.pooler.dense.weight": w,
                               "optimus.decoder.transformer.linear.weight": w,
                               "optimus.decoder.transformer.linear_emb.weight": w,
                               "optimus.decoder.transformer.h.0.attn.bias": w,
                               "optimus.decoder.transformer.h.0.attn.c_attn.weight": w})
    assert set(optimus) == {"encoder_linear.weight", "encoder.pooler.dense.weight", "memory.weight",
                            "embedding.weight", "decoder.transformer.h.0.attn.c_attn.weight"}
