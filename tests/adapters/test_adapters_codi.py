"""CoDi: the merge of its three released state dicts into XGeM's official layout, the declared view mapping, and
availability (weights, then the reference model's converter)."""
import pytest
import torch

from xgem_bench import weights
from xgem_bench.adapters import codi
from xgem_bench.adapters.codi import CoDiAdapter, official_layout
from xgem_bench.tasks import parse_task


def _parts():
    encoders = {"clip.model.text_model.embeddings.token_embedding.weight": torch.zeros(4, 2),
                "autokl.encoder.conv_in.weight": torch.ones(2, 3, 3, 3),
                "optimus.encoder.linear.weight": torch.ones(6, 3)}
    vision = {"model.diffusion_model.unet_image.input_blocks.0.0.weight": torch.arange(4.0),
              "model.diffusion_model.unet_image.input_blocks.1.0.0.in_layers.0.weight": torch.ones(2),
              "model.diffusion_model.unet_image.input_blocks.1.0.1.temporal_attn.norm.weight": torch.ones(1)}
    text = {"model.diffusion_model.unet_text.input_blocks.0.0.weight": torch.full((3,), 2.0)}
    return encoders, vision, text


def test_official_layout_maps_the_vision_unet_onto_both_views():
    encoders, vision, text = _parts()
    state = official_layout(encoders, vision, text)
    frontal = state["model.diffusion_model.unet_frontal.input_blocks.0.0.weight"]
    lateral = state["model.diffusion_model.unet_lateral.input_blocks.0.0.weight"]
    assert frontal is lateral is vision["model.diffusion_model.unet_image.input_blocks.0.0.weight"]
    assert "model.diffusion_model.unet_lateral.input_blocks.1.0.1.temporal_attn.norm.weight" in state  # dropped later
    assert state["model.diffusion_model.unet_text.input_blocks.0.0.weight"] is text[
        "model.diffusion_model.unet_text.input_blocks.0.0.weight"]
    assert set(encoders) <= set(state) and not any("unet_image" in k for k in state)


def test_wrong_files_are_named():
    encoders, vision, text = _parts()
    with pytest.raises(ValueError, match="not CoDi's vision diffuser"):
        official_layout(encoders, text, text)
    with pytest.raises(ValueError, match="no keys under optimus."):
        official_layout({k: v for k, v in encoders.items() if not k.startswith("optimus")}, vision, text)
    audio = {**encoders, "clap.model.audio_branch.weight": torch.ones(1)}  # CoDi's audio encoders are left out
    assert not any(k.startswith("clap") for k in official_layout(audio, vision, text))


def test_tasks_and_view_mapping_are_declared():
    adapter = CoDiAdapter()
    assert len(adapter.supported_tasks()) == 9 and not adapter.supports(parse_task("T->F+L"))
    assert "T->F equals T->L" in adapter.settings()["view_mapping"]


def test_unavailable_until_weights_then_converter(tmp_path, monkeypatch):
    assert "xgem-bench weights fetch codi-encoders" in CoDiAdapter().unavailable_reason()
    for name in CoDiAdapter.weights:
        (tmp_path / name).write_bytes(b"x")
        weights.import_file(name, tmp_path / name)
    assert CoDiAdapter().unavailable_reason() is None
    monkeypatch.setattr(codi, "CONVERTER", "xgem_bench.reference_model.no_such_module:convert")
    assert "official-checkpoint converter" in CoDiAdapter().unavailable_reason()


def test_merged_layout_is_what_the_reference_converter_reads():
    from xgem_bench.reference_model.convert import OFFICIAL_NAMES, UNET_PREFIX, flatten_video, sub

    state = official_layout(*_parts())
    frontal, lateral, report = (flatten_video(sub(state, UNET_PREFIX.format(OFFICIAL_NAMES[m])))
                                for m in ("frontal", "lateral", "report"))
    # the video pair [ResBlock, temporal] is flattened to the ResBlock, the temporal block dropped
    assert frontal.keys() == lateral.keys() == {"input_blocks.0.0.weight", "input_blocks.1.0.in_layers.0.weight"}
    assert report.keys() == {"input_blocks.0.0.weight"}


def test_repeated_words_merged_as_codi_does():
    assert codi.merge_repeated_words("the the lungs are are clear clear .") == "the lungs are clear ."
