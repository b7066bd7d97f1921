"""`xgem-bench train --init codi` starts every stage from CoDi's released weights (small files written in upstream's
key layout by tests/official_layout.py), and the report latent scale: measured when the text VAE is trained from
scratch, upstream's constant when it starts from CoDi's Optimus, saved beside the text VAE's weights."""
import json
import logging
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from xgem_bench.cli import app
from xgem_bench.reference_model import model as xm
from xgem_bench.reference_model.codi_init import Init
from xgem_bench.reference_model.config import paper_config, tiny_config
from xgem_bench.reference_model.stage_training import measures_text_scale
from xgem_bench.reference_model.training import train_stage
from xgem_bench.reference_model.training_data import training_indices
from xgem_bench.tasks import Modality


def _no_epochs(lr=None):
    def adjust(config):
        for hyper in config.hyper.values():
            hyper.epochs = 0 if lr is None else 1
            if lr is not None:
                hyper.lr, hyper.weight_decay = lr, 0.0
    return adjust


def _assert_same_weights(module, expected, what):
    got, want = module.state_dict(), expected.state_dict()
    assert got.keys() == want.keys(), what
    for name, value in want.items():
        assert torch.equal(got[name], value), f"{what}: {name}"


@pytest.mark.slow
def test_every_stage_starts_from_codis_weights(tmp_path, toy_dataset):
    """`train all --init codi` with no epochs saves each stage's weights as initialised, before any step: every
    tensor equals the model CoDi's files were written from (its vision UNet serving both views). Then a real
    optimizer step with learning rate 0 leaves the LDM where CoDi's weights put it (training starts from them)."""
    from official_layout import write_small_codi

    source, config_path = write_small_codi(tmp_path / "codi")
    root = tmp_path / "ckpt"
    root.mkdir()
    shutil.copy(config_path, root / "xgem_config.json")
    name = xm.load_config(root).name
    logs = []
    train_stage("all", root, name, toy_dataset, adjust=_no_epochs(), progress=False, log=logs.append,
                init=Init("codi"))
    assert not xm.missing_stages(root, "xgem")
    model = xm.XGeM.load(root, "xgem")
    _assert_same_weights(model.prompt.clip, source.prompt.clip, "CLIP")
    _assert_same_weights(model.image_vae, source.image_vae, "AutoKL")
    _assert_same_weights(model.text_vae, source.text_vae, "Optimus")
    for m in ("frontal", "lateral", "report"):
        _assert_same_weights(model.unets[m], source.unets[m], f"{m} UNet")
        _assert_same_weights(model.branches[m], source.branches[m], f"{m} alignment blocks")
    for stage in ("clip", "image-vae", "text-vae", "ldm/xgem/frontal", "align/xgem/report"):
        assert json.loads((root / stage / "stage.json").read_text())["init"] == "codi", stage
    # a text VAE starting from CoDi's Optimus keeps the configuration's (upstream) scale, saved beside its weights
    saved = json.loads((root / "text-vae" / "config.json").read_text())
    assert saved["latent_scale"] == 2.0 and saved["latent_scale_source"] == "upstream"

    train_stage("ldm", root, name, toy_dataset, modalities=["frontal"], overwrite=True, adjust=_no_epochs(lr=0.0),
                progress=False, log=logs.append, init=Init("codi"))
    assert len((root / "ldm" / "xgem" / "frontal" / "loss_log.csv").read_text().splitlines()) > 1  # steps ran
    _assert_same_weights(xm.XGeM.load(root, "xgem", ["frontal"], joint=False).unets["frontal"],
                         source.unets["frontal"], "frontal UNet after a step at lr 0")


def test_init_codi_without_codis_files_names_the_fetch_command(tmp_path):
    result = CliRunner().invoke(app, ["train", "clip", "--config", "tiny", "--dataset", "demo:n=12", "--checkpoint",
                                      str(tmp_path / "ckpt"), "--init", "codi", "--no-progress"])
    assert result.exit_code != 0
    assert "xgem-bench weights fetch codi-encoders codi-vision-diffuser codi-text-diffuser" in result.output
    result = CliRunner().invoke(app, ["train", "clip", "--config", "tiny", "--dataset", "demo:n=12", "--checkpoint",
                                      str(tmp_path / "ckpt"), "--init", "codi", "--codi-checkpoint",
                                      str(tmp_path), "--no-progress"])
    assert result.exit_code != 0 and "CoDi_encoders.pth" in result.output
    result = CliRunner().invoke(app, ["train", "clip", "--codi-checkpoint", str(tmp_path), "--dry-run"])
    assert result.exit_code != 0 and "only with --init codi" in result.output


def test_the_text_scale_is_measured_unless_optimus_starts_from_codi():
    assert measures_text_scale(tiny_config(), Init()) and measures_text_scale(tiny_config(), Init("codi"))
    assert measures_text_scale(paper_config(), Init())  # paper's Optimus trained from scratch
    assert not measures_text_scale(paper_config(), Init("codi"))  # CoDi's Optimus: upstream's 4.3108
    assert paper_config().text_vae.latent_scale == 4.3108


def test_the_measured_text_scale_is_one_over_the_std_of_the_training_latents(trained_tiny, toy_dataset):
    """Recomputed here from the saved Optimus on the training reports: plain BERT pooler -> encoder linear -> mu,
    1 / sample std over every dimension (SD's 0.18215 convention); saved in text-vae/config.json and used."""
    root, _ = trained_tiny
    saved = json.loads((root / "text-vae" / "config.json").read_text())
    assert saved["latent_scale_source"] == "measured"
    model = xm.XGeM.load(root, "xgem", ["report"], joint=False)
    has_report = toy_dataset.available(Modality.REPORT)
    reports = [toy_dataset.load(int(i)).report for i in training_indices(toy_dataset, "train") if has_report[i]]
    ids, mask = model.tokenizers.encoder.encode(reports)
    with torch.no_grad():
        pooled = model.text_vae.encoder(input_ids=ids, attention_mask=mask).pooler_output
        mu = model.text_vae.encoder_linear(pooled)[:, :model.config.text_vae.latent_dim].numpy()
    expected = 1.0 / np.std(mu.astype(np.float64), ddof=1)
    assert saved["latent_scale"] == pytest.approx(expected, rel=1e-5)
    assert model.text_scale == saved["latent_scale"] == xm.load_config(root).text_vae.latent_scale


def test_a_text_vae_saved_without_its_scale_loads_with_the_configurations_and_a_note(trained_tiny, tmp_path,
                                                                                    caplog):
    root = tmp_path / "old"
    shutil.copytree(trained_tiny[0], root)
    meta_path = root / "text-vae" / "config.json"
    meta = json.loads(meta_path.read_text())
    del meta["latent_scale"], meta["latent_scale_source"]
    meta_path.write_text(json.dumps(meta))
    config = xm.load_config(root)
    config.text_vae.latent_scale = 4.3108  # an old checkpoint: upstream's constant, which its LDMs were trained with
    config.save(root / "xgem_config.json")
    with caplog.at_level(logging.WARNING):
        model = xm.XGeM.load(root, "xgem", ["report"], joint=False)
    assert model.text_scale == 4.3108
    assert "no saved text latent scale" in caplog.text and "4.3108" in caplog.text
