"""RoentGen through the real diffusers loading code, on a tiny StableDiffusionPipeline saved in the upstream layout."""
import logging

import numpy as np
import pytest
import torch

from upstream_tokenizers import write_clip_tokenizer
from xgem_bench import weights
from xgem_bench.adapters.base import AdapterContext
from xgem_bench.adapters.conformance import check_adapter
from xgem_bench.adapters.roentgen import RoentGenAdapter
from xgem_bench.tasks import Modality, parse_task

TINY = {"steps": 2, "height": 32, "width": 32}


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory):
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("roentgen") / "roentgen"
    unet = UNet2DConditionModel(block_out_channels=(16, 32), layers_per_block=1, sample_size=16, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                attention_head_dim=4, norm_num_groups=8)
    vae = AutoencoderKL(block_out_channels=(16, 32), in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        norm_num_groups=8)
    text_encoder = CLIPTextModel(CLIPTextConfig(hidden_size=32, intermediate_size=37, num_attention_heads=4,
                                                num_hidden_layers=2, vocab_size=1000, projection_dim=32))
    tokenizer = write_clip_tokenizer(folder.parent / "tok")
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=PNDMScheduler(skip_prk_steps=True, steps_offset=1), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder


@pytest.fixture
def imported(tiny_pipeline):
    """The tiny pipeline installed as the `roentgen` catalog weight, through the real import path."""
    weights.import_file("roentgen", tiny_pipeline)
    return tiny_pipeline


def test_upstream_defaults():
    assert RoentGenAdapter().settings == {"checkpoint": None, "steps": 75, "guidance": 4.0, "height": 512,
                                         "width": 512, "dtype": "float32"}


def test_missing_weight_names_the_import_command():
    reason = RoentGenAdapter().unavailable_reason()
    assert "xgem-bench weights import roentgen PATH" in reason


def test_conformance_on_imported_weight(imported, dataset):
    adapter = RoentGenAdapter(**TINY)
    assert adapter.unavailable_reason() is None
    report = check_adapter(adapter, dataset, n_studies=2)
    assert report.ok, report.render()
    assert adapter.checkpoint_id().startswith("roentgen=") and len(adapter.checkpoint_id()) > 20


def test_outputs_and_seed_control(tiny_pipeline, studies):
    adapter = RoentGenAdapter(checkpoint=str(tiny_pipeline), **TINY)
    adapter.setup(AdapterContext())
    task = parse_task("T->F")
    inputs = [s.only(task.inputs) for s in studies[:2]]
    a = adapter.generate(inputs, task, [7, 8])
    b = adapter.generate(inputs[::-1], task, [8, 7])  # order and batch position do not matter, the seed does
    image = a[0][Modality.FRONTAL]
    assert image.shape == (256, 256) and image.dtype == np.float32 and 0 <= image.min() <= image.max() <= 1
    np.testing.assert_allclose(a[0][Modality.FRONTAL], b[1][Modality.FRONTAL], atol=1e-5)
    c = adapter.generate(inputs[:1], task, [9])
    assert np.abs(c[0][Modality.FRONTAL] - image).max() > 1e-3


def test_long_reports_are_counted_and_warned(tiny_pipeline, studies, caplog):
    adapter = RoentGenAdapter(checkpoint=str(tiny_pipeline), **TINY)
    adapter.setup(AdapterContext())
    long = studies[0].only([Modality.REPORT])
    long.report = "bilateral pleural effusion " * 40  # ~ 3 tokens per word with this byte-level vocabulary
    with caplog.at_level(logging.WARNING):
        adapter.generate([long, studies[1].only([Modality.REPORT])], parse_task("T->F"), [1, 2])
    assert adapter.truncated_prompts == 1 and adapter.diagnostics() == {"truncated_prompts": 1}
    assert "exceed CLIP's 77-token window" in caplog.text


def test_hub_id_from_local_cache_only(tiny_pipeline, tmp_path, monkeypatch):
    import shutil

    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    adapter = RoentGenAdapter(checkpoint="StanfordAIMI/roent-gen-v1-0", **TINY)
    assert "huggingface-cli download StanfordAIMI/roent-gen-v1-0" in adapter.unavailable_reason()
    repo = tmp_path / "models--StanfordAIMI--roent-gen-v1-0"
    shutil.copytree(tiny_pipeline, repo / "snapshots" / ("a" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    assert adapter.unavailable_reason() is None
    adapter.setup(AdapterContext())
    out = adapter.generate([], parse_task("T->F"), [])
    assert out == []


def test_float16_on_cpu_is_refused(tiny_pipeline):
    with pytest.raises(ValueError, match="float16 needs a GPU"):
        RoentGenAdapter(checkpoint=str(tiny_pipeline), dtype="float16").setup(AdapterContext())


def test_outputs_equal_the_diffusers_pipeline_then_luma_and_resize(tiny_pipeline, studies):
    # the reference: the pipeline as its model card runs it, then the documented conversion to the suite's image
    # (ITU-R 601 luma, then PIL's bilinear enlargement of the square image to 256x256)
    from diffusers import StableDiffusionPipeline
    from PIL import Image
    adapter = RoentGenAdapter(checkpoint=str(tiny_pipeline), **TINY)
    adapter.setup(AdapterContext())
    task = parse_task("T->F")
    got = adapter.generate([s.only(task.inputs) for s in studies[:2]], task, [7, 8])
    pipe = StableDiffusionPipeline.from_pretrained(tiny_pipeline)
    for study, seed, outputs in zip(studies, [7, 8], got):
        rgb = pipe(study.report, num_inference_steps=TINY["steps"], guidance_scale=4.0, height=TINY["height"],
                   width=TINY["width"], generator=torch.Generator().manual_seed(seed), output_type="np").images[0]
        luma = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]).astype(np.float32)
        expected = np.asarray(Image.fromarray(luma, mode="F").resize((256, 256), Image.Resampling.BILINEAR))
        np.testing.assert_allclose(outputs[Modality.FRONTAL], np.clip(expected, 0, 1), atol=1e-5)
