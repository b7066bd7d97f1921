"""Every stage trained on toy studies (both variants), then the xgem / codi-xr adapters generate for all twelve paper
tasks; resumable training; reasons and commands when checkpoints are missing; the CLI surface."""
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from xgem_bench.adapters import get_adapter_class
from xgem_bench.adapters.base import AdapterContext
from xgem_bench.reference_model import model as xm
from xgem_bench.reference_model.config import StageHyper
from xgem_bench.reference_model.prompt_encoder import PromptEncoder
from xgem_bench.reference_model.stages import ClipStage
from xgem_bench.reference_model.fit import fit
from xgem_bench.reference_model.training_data import StudyTensors, collate
from xgem_bench.tasks import PAPER_TASKS

from refmodel_fixtures import fast_config, toy_studies


def test_every_stage_is_saved_with_its_configuration(trained_tiny):
    root, timings = trained_tiny
    assert xm.missing_stages(root, "xgem") == [] and xm.missing_stages(root, "codi-xr") == []
    config = xm.load_config(root)
    assert config.name == "tiny" and config.image_vae.scaling_factor > 0 and config.text_vae.latent_scale > 0
    ldm = json.loads((root / "ldm" / "codi-xr" / "frontal" / "stage.json").read_text())
    assert ldm["multi_prompt"] is False and ldm["dataset"] == "toy"
    assert (root / "ldm" / "xgem" / "frontal" / "config.json").is_file()  # diffusers format
    assert (root / "clip" / "loss_log.csv").read_text().startswith("step,epoch,seconds,lr,loss")
    assert not (root / "clip" / "_state").exists()
    assert not list(root.rglob("_tables"))  # the stages' encoded tables are gone once they end


@pytest.mark.parametrize("name", ["xgem", "codi-xr"])
def test_adapters_generate_every_paper_task(trained_tiny, name):
    root, _ = trained_tiny
    adapter = get_adapter_class(name)(checkpoint=str(root), steps=3)
    assert adapter.unavailable_reason() is None
    torch.set_num_threads(1)
    adapter.setup(AdapterContext())
    studies = toy_studies(2)
    for task in PAPER_TASKS:
        outputs = adapter.generate([s.only(task.inputs) for s in studies], task, [3, 4])
        assert len(outputs) == 2
        for out in outputs:
            assert set(out) == set(task.outputs)
            for modality, value in out.items():
                if modality.is_image:
                    assert value.shape == (256, 256) and value.dtype == np.float32
                    assert 0 <= value.min() and value.max() <= 1
                else:
                    assert isinstance(value, str)
    task = PAPER_TASKS[-1]
    again = adapter.generate([s.only(task.inputs) for s in studies], task, [3, 4])
    for a, b in zip(outputs, again):
        for m in a:
            assert np.array_equal(a[m], b[m]) if m.is_image else a[m] == b[m]


def test_missing_checkpoints_name_the_training_command(tmp_path):
    reason = get_adapter_class("xgem")(checkpoint=str(tmp_path)).unavailable_reason()
    assert "xgem-bench train all --config tiny --variant xgem" in reason
    reason = get_adapter_class("codi-xr")().unavailable_reason()
    assert "xgem-bench train all --config tiny --variant codi-xr" in reason
    official = get_adapter_class("xgem")(checkpoint="official").unavailable_reason()
    assert "xgem-bench weights import xgem-official" in official
    with pytest.raises(RuntimeError, match="train all"):
        get_adapter_class("xgem")(checkpoint=str(tmp_path)).setup(AdapterContext())


def test_training_resumes_after_the_last_finished_epoch(trained_tiny, toy_dataset, tmp_path):
    root, _ = trained_tiny
    config = fast_config()
    tokenizers_root = root
    from xgem_bench.reference_model.tokenizer import load_tokenizers
    tokenizers = load_tokenizers(xm.load_config(root), tokenizers_root)
    config.clip.text_vocab = tokenizers.clip.vocab_size
    data = StudyTensors(toy_dataset, range(8), config.image_vae.image_size)

    def run(epochs):
        torch.manual_seed(0)
        prompt = PromptEncoder(xm.build_clip(config.clip, tokenizers.clip), tokenizers.clip)
        hyper = StageHyper(lr=1e-3, batch_size=4, epochs=epochs)
        return fit(ClipStage(prompt, config), list(prompt.parameters()), data, hyper, tmp_path, collate,
                   progress=False)

    first = run(1)
    assert json.loads((tmp_path / "_state" / "progress.json").read_text())["epochs_done"] == 1
    second = run(3)  # picks up after epoch 1; the history is the whole stage's, read back from the loss log
    assert [r["epoch"] for r in first] == [0, 0] and [r["epoch"] for r in second] == [0, 0, 1, 1, 2, 2]
    assert second[:2] == first
    logged = (tmp_path / "loss_log.csv").read_text().splitlines()
    assert len(logged) == 1 + 6


def test_cli_model_info_and_train_errors():
    from xgem_bench.cli import app
    runner = CliRunner()
    result = runner.invoke(app, ["model-info", "--config", "paper"])
    assert result.exit_code == 0, result.output
    assert result.output.count(" yes ") + result.output.count(" yes\n") == 9
    assert "5,196" in result.output
    bad = runner.invoke(app, ["train", "diffusion", "--config", "tiny"])
    assert bad.exit_code == 2 and "unknown stage" in bad.output
    bad = runner.invoke(app, ["model-info", "--config", "huge"])
    assert bad.exit_code == 2 and "unknown XGeM configuration" in bad.output


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["tiny", "tiny128"])
def test_the_shipped_tiny_preset_trains_every_stage(tmp_path, preset):
    """The other tests train a shrunk copy of `tiny` (fast_config); this one trains the preset exactly as shipped
    (sizes, image size, tokenizer, learning rates) for one epoch of a few studies per stage, so that a broken shipped
    configuration fails here, then generates a joint task from it."""
    from xgem_bench.data.dataset import InMemoryDataset
    from xgem_bench.reference_model.config import get_config
    from xgem_bench.reference_model.training import train_all

    shipped = get_config(preset)
    studies = toy_studies(n=12, size=shipped.image_vae.image_size)
    dataset = InMemoryDataset(studies, name="toy12", synthetic=True)

    def one_epoch(config):
        assert config.to_dict()["xray_unet"] == shipped.to_dict()["xray_unet"]  # the preset, not a copy
        assert config.to_dict()["image_vae"] == {**shipped.to_dict()["image_vae"],
                                                 "scaling_factor": config.image_vae.scaling_factor}
        for hyper in config.hyper.values():
            hyper.epochs = 1

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        timings = train_all(tmp_path, preset, dataset, progress=False, log=lambda message: None, adjust=one_epoch)
    finally:
        torch.set_num_threads(threads)
    assert xm.missing_stages(tmp_path, "xgem") == [] and len(timings) == 7
    model = xm.XGeM.load(tmp_path)
    out = model.generate({"report": [studies[0].report]}, ["frontal", "lateral"], [1], steps=2)
    assert np.isfinite(out["frontal"][0]).all() and out["frontal"][0].shape == (256, 256)
