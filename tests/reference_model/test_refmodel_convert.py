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

from refmodel_fixtures import REPORTS, fast_config
from official_layout import official_report_unet, official_text_branch


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
                               "optimus.encoder.embeddings.position_ids": w,
                               "optimus.decoder.transformer.h.0.attn.c_attn.weight": w})
    assert set(optimus) == {"encoder_linear.weight", "encoder.pooler.dense.weight", "memory.weight",
                            "embedding.weight", "decoder.transformer.h.0.attn.c_attn.weight"}


def _random_xgem(config):
    from xgem_bench.reference_model.tokenizer import local_tokenizers, train_local_tokenizer

    from official_layout import random_xgem

    config.image_vae.scaling_factor, config.text_vae.latent_scale = 0.5, 2.0  # measured by training in `tiny`
    tokenizers = local_tokenizers(train_local_tokenizer(REPORTS, 200), config.clip.max_length,
                                  config.text_vae.max_length)
    return random_xgem(config, tokenizers), tokenizers


def test_whole_official_checkpoint_converts_exactly():
    """CLIP, AutoKL (LDM VAE names, decoder video attention), both X-ray UNets (LDM UNet names, [ResBlock,
    temporal] pairs) with their environment encoders and connectors, the report UNet and Optimus: every tensor of
    our model comes back unchanged, none is left unfilled, and the converted model generates what the source did."""
    from official_layout import official_xgem

    from xgem_bench.reference_model.convert import convert_official

    config = fast_config()
    source, tokenizers = _random_xgem(config)
    official = official_xgem(source)
    assert any(".0.1." in k for k in official) and any("video_att" in k for k in official)
    converted = convert_official(official, config, tokenizers).eval()

    ours, theirs = source.state_dict(), converted.state_dict()
    assert ours.keys() == theirs.keys()
    assert [k for k in ours if not torch.equal(ours[k], theirs[k])] == []

    image = torch.rand(32, 32).numpy()
    inputs = {"report": ["small left apical pneumothorax."], "lateral": [image]}
    with torch.no_grad():
        a = source.generate(inputs, ["frontal"], [3], steps=2)["frontal"][0]
        b = converted.generate(inputs, ["frontal"], [3], steps=2)["frontal"][0]
    assert (a == b).all()


def test_a_missing_official_tensor_is_refused():
    from official_layout import official_xgem

    from xgem_bench.reference_model.convert import convert_official

    config = fast_config()
    source, tokenizers = _random_xgem(config)
    official = official_xgem(source)
    del official["model.diffusion_model.unet_lateral.output_blocks.1.0.0.in_layers.2.weight"]
    import pytest
    with pytest.raises(ValueError, match="lateral UNet"):
        convert_official(official, config, tokenizers)


def test_official_file_loads_through_the_weights_manager(tmp_path):
    """MedCoDi-M.pt imported with `weights import`, read back by `load_official` (a Lightning-style
    {"state_dict": ...} wrapper is unwrapped), with standard-format tokenizer files from the catalog."""
    from official_layout import official_xgem, random_xgem, small_pretrained_config
    from upstream_tokenizers import write_upstream_tokenizers

    from xgem_bench import weights
    from xgem_bench.reference_model.convert import load_official, official_missing_reason
    from xgem_bench.reference_model.tokenizer import pretrained_tokenizers

    assert "xgem-official" in official_missing_reason("xgem")
    for name, path in write_upstream_tokenizers(tmp_path / "tokenizers").items():
        weights.import_file(name, path)
    tokenizers = pretrained_tokenizers(64, 64)
    config = small_pretrained_config(tokenizers)
    source = random_xgem(config, tokenizers)
    torch.save({"state_dict": official_xgem(source)}, tmp_path / "MedCoDi-M.pt")
    weights.import_file("xgem-official", tmp_path / "MedCoDi-M.pt")
    assert official_missing_reason("xgem") is None

    loaded = load_official(config=config)
    ours, theirs = source.state_dict(), loaded.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    with torch.no_grad():
        report = "small left pleural effusion."
        assert source.generate({"report": [report]}, ["frontal", "lateral"], [1], steps=2)["lateral"][0].tolist() == \
            loaded.generate({"report": [report]}, ["frontal", "lateral"], [1], steps=2)["lateral"][0].tolist()
