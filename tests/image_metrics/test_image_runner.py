"""The image metrics inside `xgem-bench run`: per-view records and artefacts, the Inception imported offline."""
import json
from pathlib import Path

import numpy as np

from xgem_bench.runner import run


def test_run_with_oracle_scores_fid_and_classification(xrv_weights, inception_weights, tmp_path):
    xrv_weights("all")
    real_xrv = {"variant": "all"}  # on the demo the XRV metrics default to the demo backbone
    result = run("L+T->F", models=["oracle"], metrics=["fid-xrv", "xrv-classification", "fid-inception"], limit=3,
                 out=tmp_path / "results", cache_dir=tmp_path / "cache", progress=False, device="cpu",
                 metric_settings={"fid-xrv": real_xrv, "xrv-classification": real_xrv})
    run_dir = Path(result.run_dir)
    metrics = json.loads((run_dir / "results.json").read_text())["models"]["oracle"]["metrics"]
    fid = metrics["fid-xrv/F"]
    assert fid["status"] == "ok" and "layer:features2" in fid["signature"]
    assert fid["values"]["n_generated"] == 3 and fid["values"]["rank_deficient"] == 1.0
    archive = np.load(run_dir / "artifacts" / "oracle" / "fid-xrv-F.npz")
    # the oracle returns the real images: generated and reference features coincide study by study
    order = [archive["reference_ids"].tolist().index(i) for i in archive["generated_ids"].tolist()]
    np.testing.assert_allclose(archive["generated"], archive["reference"][order], rtol=1e-4,
                               atol=1e-4 * np.abs(archive["reference"]).max())
    classification = metrics["xrv-classification/F"]
    assert classification["status"] == "ok" and classification["values"]["n_studies"] == 3
    inception = metrics["fid-inception/F"]
    # the real Inception, imported offline: the value itself is checked against pytorch-fid in test_image_fid_parity
    assert inception["status"] == "ok" and inception["settings"]["weights"] == "fid-helper"
    assert inception["values"]["n_generated"] == 3 and abs(inception["values"]["fid"]) < 1e-3  # oracle: same images
