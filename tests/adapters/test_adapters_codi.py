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
              "model.diffusion_model.unet_image.input_blocks.1.0.1.temporal.weight": torch.ones(1)}
    text = {"model.diffusion_model.unet_text.input_blocks.0.0.weight": torch.full((3,), 2.0)}
    return encoders, vision, text


def test_official_layout_maps_the_vision_unet_onto_both_views():
    encoders, vision, text = _parts()
    state = official_layout(encoders, vision, text)
    frontal = state["model.diffusion_model.unet_frontal.input_blocks.0.0.weight"]
    lateral = state["model.diffusion_model.unet_lateral.input_blocks.0.0.weight"]
    assert frontal is lateral is vision["model.diffusion_model.unet_image.input_blocks.0.0.weight"]
    assert "model.diffusion_model.unet_lateral.input_blocks.1.0.1.temporal.weight" in state  # converter drops it
    assert state["model.diffusion_model.unet_text.input_blocks.0.0.weight"] is text[
        "model.diffusion_model.unet_text.input_blocks.0.0.weight"]
    assert set(encoders) <= set(state) and not any("unet_image" in k for k in state)


def test_wrong_files_are_named():
    encoders, vision, text = _parts()
    with pytest.raises(ValueError, match="not CoDi's vision diffuser"):
        official_layout(encoders, text, text)
    with pytest.raises(ValueError, match="not CoDi_encoders.pth"):
        official_layout({"model.x": torch.ones(1)}, vision, text)


def test_tasks_and_view_mapping_are_declared():
    adapter = CoDiAdapter()
    assert len(adapter.supported_tasks()) == 9 and not adapter.supports(parse_task("T->F+L"))
    assert "T->F equals T->L" in adapter.settings()["view_mapping"]


def test_unavailable_until_weights_then_converter(tmp_path, monkeypatch):
    reason = CoDiAdapter().unavailable_reason()
    assert "xgem-bench weights fetch codi-encoders" in reason or "not in the weights catalog" in reason
    for name in codi.CODI_WEIGHTS.values():
        (tmp_path / name).write_bytes(b"x")
        weights.import_file(name, tmp_path / name)
    tokenizers = [w for w in CoDiAdapter.weights if w not in codi.CODI_WEIGHTS.values()]
    if any(w not in weights.catalog() for w in tokenizers):
        assert "not in the weights catalog" in CoDiAdapter().unavailable_reason()
        return
    for name in tokenizers:
        spec = weights.get(name)
        (tmp_path / name).mkdir()
        for required in spec.required_files:
            (tmp_path / name / required).write_text("{}")
        weights.import_file(name, tmp_path / name)
    monkeypatch.setattr(codi, "CONVERTER", "xgem_bench.reference_model.no_such_module:convert")
    assert "official-checkpoint converter" in CoDiAdapter().unavailable_reason()


def test_repeated_words_merged_as_codi_does():
    assert codi.merge_repeated_words("the the lungs are are clear clear .") == "the lungs are clear ."
