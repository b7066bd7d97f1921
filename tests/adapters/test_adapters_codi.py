"""CoDi: the merge of its three released state dicts into XGeM's official layout, the declared view mapping, and
availability (weights, then the reference model's converter)."""
import numpy as np
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
    assert "T->F equals T->L" in adapter.recorded_settings()["view_mapping"]


def test_unavailable_until_weights_then_converter(tmp_path, monkeypatch):
    reason = CoDiAdapter().unavailable_reason()
    assert reason.startswith("6 weights are missing")  # every fix at once: one fetch command for all six
    assert "`xgem-bench weights fetch codi-encoders codi-vision-diffuser codi-text-diffuser xgem-tokenizer-clip " \
           "xgem-tokenizer-bert xgem-tokenizer-gpt2`" in reason
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


@pytest.fixture
def small_codi(tmp_path):
    """CoDi's three files at small size, imported: (source model, xgem_config.json) (official_layout)."""
    from official_layout import write_small_codi

    return write_small_codi(tmp_path)


def test_codi_loads_from_its_released_files_and_generates_what_the_source_model_does(small_codi, studies):
    """The whole path a user takes: catalog files -> merge -> official-checkpoint converter -> generation; the
    numbers equal the source model's for an image and a text task, and T->F equals T->L (one vision UNet)."""
    from xgem_bench.adapters.base import AdapterContext

    source, config_path = small_codi
    adapter = CoDiAdapter(config=str(config_path), steps=4)
    assert adapter.unavailable_reason() is None
    adapter.setup(AdapterContext(device="cpu"))
    studies = studies[:2]
    seeds = [5, 6]
    # CoDi's inference conventions, set by hand on the source model: raw report text into CLIP, mid-grey blank image
    source.tokenizers.clip.clip_cleaning = False
    source.blank_image_level = 0.5
    frontal = adapter.generate(studies, parse_task("T->F"), seeds)
    lateral = adapter.generate(studies, parse_task("T->L"), seeds)
    expected = source.generate({"report": [s.report for s in studies]}, ["frontal"], seeds, steps=4)["frontal"]
    for i in range(2):
        assert np.array_equal(frontal[i][parse_task("T->F").outputs[0]], expected[i])
        assert np.array_equal(lateral[i][parse_task("T->L").outputs[0]], expected[i])
    reports = adapter.generate(studies, parse_task("F->T"), seeds)
    expected = source.generate({"frontal": [s.frontal for s in studies]}, ["report"], seeds, steps=4,
                               max_report_tokens=28)["report"]
    assert [r[parse_task("F->T").outputs[0]] for r in reports] == [
        codi.remove_repeated_phrases(codi.merge_repeated_words(t)) for t in expected]


def test_codi_passes_the_conformance_check(small_codi, dataset):
    from xgem_bench.adapters.conformance import check_adapter

    _, config_path = small_codi
    report = check_adapter(CoDiAdapter(config=str(config_path), steps=3), dataset,
                           tasks=["T->F", "F+T->L", "L->T"], n_studies=2)
    assert report.ok, report.render()
