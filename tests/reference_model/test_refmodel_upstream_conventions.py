"""Upstream conventions outside the denoiser: the hub's SD-1 VAE files, CoDi's text post-processing, decoding cap,
blank image and flip, and the raw report text that the public inference passes to CLIP."""
import numpy as np
import pytest
import torch

from refmodel_fixtures import fast_config

#: CoDi's `remove_duplicate_word` (i-Code-V3 core/common/utils.py) on these inputs, computed by running upstream's
#: function; our implementation also agreed with it on 3,000 random word sequences when it was written
UPSTREAM_DEDUP = {
    "the heart is normal the heart is normal .": "the heart is normal.",
    "no pneumothorax. no pneumothorax. lungs are clear.": "no pneumothorax. lungs are clear.",
    "a b a b a b c": "a b c",
    "(left) (left) effusion, effusion.": "(left) effusion, effusion.",
    "heart size is normal heart size is normal in size size .": "heart size is normal in size.",
    "the lungs are clear . the lungs are clear . no effusion . no effusion": "the lungs are clear. no effusion",
    "a b c a b c a b c d e d e": "a b c d e",
    ". . .": "<puncnext> .",
    "no acute cardiopulmonary process . no acute cardiopulmonary process":
        "no acute cardiopulmonary process. no acute cardiopulmonary process",
    "[ [ a ] ]": "[a]",
    "x": "x",
    "": "",
}


@pytest.mark.parametrize("text", list(UPSTREAM_DEDUP))
def test_duplicate_phrases_removed_as_codi_does(text):
    from xgem_bench.adapters.codi import remove_repeated_phrases
    assert remove_repeated_phrases(text) == UPSTREAM_DEDUP[text]


def _hub_layout(state: dict) -> dict:
    """diffusers' current VAE names -> those of the hub's SD-1.x files (diffusers < 0.14 attention blocks)."""
    names = {".to_q.": ".query.", ".to_k.": ".key.", ".to_v.": ".value.", ".to_out.0.": ".proj_attn."}
    out = {}
    for key, value in state.items():
        if ".attentions." in key:
            for new, old in names.items():
                key = key.replace(new, old)
        out[key] = value
    return out


def test_sd_vae_in_the_hubs_attention_layout_loads(tmp_path):
    from safetensors.torch import save_file

    from xgem_bench.reference_model.model import build_image_vae, load_hub_vae

    config = fast_config()
    config.image_vae.scaling_factor = 0.18215
    torch.manual_seed(0)
    source = build_image_vae(config)
    hub = _hub_layout(source.state_dict())
    assert any(k.endswith("mid_block.attentions.0.query.weight") for k in hub)
    assert any(k.endswith("proj_attn.bias") for k in hub)
    save_file({k: v.contiguous() for k, v in hub.items()}, tmp_path / "vae.safetensors")

    fresh = build_image_vae(config)
    with pytest.raises(RuntimeError):  # what the old raw load did with such a file
        fresh.load_state_dict(hub)
    load_hub_vae(fresh, tmp_path / "vae.safetensors")
    for key, value in source.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key

    broken = dict(hub)
    broken.pop(next(k for k in hub if k.endswith("query.weight")))
    save_file({k: v.contiguous() for k, v in broken.items()}, tmp_path / "broken.safetensors")
    with pytest.raises(ValueError, match="weights fetch sd-vae-kl-f8"):
        load_hub_vae(build_image_vae(config), tmp_path / "broken.safetensors")


def test_clip_text_is_raw_for_official_and_codi_clean_for_local_checkpoints():
    from xgem_bench.adapters.codi import CoDiAdapter
    from xgem_bench.adapters.xgem import XGeMAdapter

    assert XGeMAdapter().clip_text() == "clean"
    assert XGeMAdapter(checkpoint="official").clip_text() == "raw"
    assert XGeMAdapter(checkpoint="official", clip_text="clean").clip_text() == "clean"
    assert CoDiAdapter().clip_text() == "raw"
    assert CoDiAdapter().recorded_settings()["clip_text"] == "raw"
    with pytest.raises(ValueError, match="clip_text"):
        XGeMAdapter(clip_text="stripped").clip_text()


def test_raw_clip_text_keeps_punctuation():
    from xgem_bench.reference_model.tokenizer import RoleTokenizer, train_local_tokenizer

    tokenizer = train_local_tokenizer(["no effusion. heart normal, lungs clear."], 100)
    role = RoleTokenizer(tokenizer, "[BOS]", "[EOS]", "[PAD]", 32, clip_cleaning=False)
    raw = role.encode(["No effusion."])[0]
    role.clip_cleaning = True
    clean = role.encode(["No effusion."])[0]
    assert raw.shape[1] == clean.shape[1] + 1  # the full stop is a token only in the raw text


def test_codi_blank_image_is_mid_grey():
    """CoDi's unconditional image: zeros in [-1, 1], which its CLIP wrapper maps by (x + 1) / 2 to 0.5."""
    from official_layout import random_xgem

    from refmodel_fixtures import REPORTS
    from xgem_bench.adapters.codi import BLANK_IMAGE_LEVEL
    from xgem_bench.reference_model.tokenizer import local_tokenizers, train_local_tokenizer

    config = fast_config()
    tokenizers = local_tokenizers(train_local_tokenizer(REPORTS, 200), 64, 64)
    model = random_xgem(config, tokenizers)
    black = model.null_embedding("frontal")
    model.blank_image_level = BLANK_IMAGE_LEVEL
    grey = model.null_embedding("frontal")
    expected = model.prompt.encode_images(torch.full((1, 32, 32), 0.5))[0]
    assert torch.allclose(grey, expected) and not torch.allclose(grey, black)


def test_codi_flip_is_off_by_default_and_seeded_when_on():
    from xgem_bench.adapters.codi import CoDiAdapter, flipped_conditions
    from xgem_bench.data.study import Study
    from xgem_bench.tasks import parse_task

    assert CoDiAdapter().settings["random_flip"] is False
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    study = Study(study_id="s", subject_id="p", frontal=image, lateral=None, report="r", split="test")
    task = parse_task("F->T")
    flips = [not np.array_equal(flipped_conditions(study, task, seed).frontal, image) for seed in range(40)]
    assert 10 < sum(flips) < 30  # a fair coin per study
    assert flips == [not np.array_equal(flipped_conditions(study, task, seed).frontal, image) for seed in range(40)]
    flipped = next(flipped_conditions(study, task, s).frontal for s, f in enumerate(flips) if f)
    assert np.array_equal(flipped, image[:, ::-1])


def test_half_precision_inference_runs_under_autocast_and_stays_close_to_fp32():
    from official_layout import random_xgem

    from refmodel_fixtures import REPORTS, toy_studies
    from xgem_bench.adapters.xgem import XGeMAdapter
    from xgem_bench.reference_model.tokenizer import local_tokenizers, train_local_tokenizer
    from xgem_bench.tasks import parse_task

    config = fast_config()
    config.image_vae.scaling_factor, config.text_vae.latent_scale = 0.5, 2.0
    model = random_xgem(config, local_tokenizers(train_local_tokenizer(REPORTS, 200), 64, 64))
    studies, task = toy_studies(2, size=32), parse_task("T->F")
    outputs = {}
    for dtype in ("fp32", "bf16"):
        adapter = XGeMAdapter(dtype=dtype, steps=3)
        adapter.model = model  # the adapter's generation path on a model built here (no checkpoint folder)
        outputs[dtype] = [o[task.outputs[0]] for o in adapter.generate(studies, task, [1, 2])]
    mae = np.mean([np.abs(a - b).mean() for a, b in zip(outputs["fp32"], outputs["bf16"])])
    assert 0 < mae < 0.05  # bf16 changes the numbers (autocast is on), but not the picture
    with pytest.raises(ValueError, match="dtype"):
        XGeMAdapter(dtype="int8")._precision()
