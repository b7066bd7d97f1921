"""The runner's whole fid-xrv value against torchxrayvision's own pipeline on the same images (issue 21 item 1)."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from xgem_bench.cache import GenerationCache
from xgem_bench.data import InMemoryDataset, Study
from xgem_bench.runner import Runner
from xgem_bench.tasks import Modality


def upstream_features(model, images):
    """torchxrayvision's documented recipe on 8-bit images (as read from PNG files): normalize(img, 255),
    XRayCenterCrop, XRayResizer(224) (skimage), then `model.features2`."""
    import torchxrayvision as xrv
    crop, resize = xrv.datasets.XRayCenterCrop(), xrv.datasets.XRayResizer(224)
    batch = []
    for image in images:
        as_png = np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)
        batch.append(resize(crop(xrv.datasets.normalize(as_png, 255)[None])))
    with torch.no_grad():
        return model.features2(torch.from_numpy(np.stack(batch).astype(np.float32))).double().numpy()


def frechet_by_eigenvalues(a, b):
    """|mu_a - mu_b|² + tr Σa + tr Σb - 2 Σ sqrt(eig(Σa Σb)), the eigenvalues of the (non-symmetric) product taken
    with numpy's general solver: another route than the metric's Cholesky/eigh one."""
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eigenvalues = np.linalg.eigvals(sa @ sb)
    diff = a.mean(0) - b.mean(0)
    return float(diff @ diff + np.trace(sa) + np.trace(sb) - 2 * np.sqrt(np.clip(eigenvalues.real, 0, None)).sum())


@pytest.mark.slow
def test_runner_fid_xrv_equals_torchxrayvision_pipeline(xrv_weights, make_images, tmp_path):
    import torchxrayvision as xrv
    from pytorch_fid.fid_score import calculate_frechet_distance

    folder = xrv_weights("all")
    images = make_images(20, size=256, seed=3)
    studies = [Study(f"s{i:02d}", f"p{i}", frontal=images[i], report="clear lungs",
                     split="test" if i % 2 else "train") for i in range(len(images))]
    result = Runner("T->F", models=["shuffled"], dataset=InMemoryDataset(studies, name="xrv-parity"),
                    metrics=["fid-xrv"], out=tmp_path / "out", cache_dir=tmp_path / "cache", progress=False).run()
    run_dir = Path(result.run_dir)
    record = json.loads((run_dir / "results.json").read_text())["models"]["shuffled"]["metrics"]["fid-xrv/F"]
    assert record["status"] == "ok" and "resize:bilinear|" in record["signature"] + "|"
    assert record["settings"]["quantize"] == "uint8"

    # the generated images as the runner cached them, and the real frontals of the same test studies
    entry = json.loads((run_dir / "results.json").read_text())["models"]["shuffled"]
    cache = GenerationCache.existing(Path(entry["cache_folder"]))
    with open(run_dir / "generation.csv", newline="") as handle:
        done = [(row["study_id"], int(row["seed"])) for row in csv.DictReader(handle) if row["status"] == "ok"]
    generated = [cache.load(sid, seed)[Modality.FRONTAL] for sid, seed in done]
    real = [s.frontal for s in studies if s.split == "test"]
    assert len(generated) == len(real) == 10

    model = xrv.models.DenseNet(weights="densenet121-res224-all", cache_dir=str(folder)).eval()
    features_g, features_r = upstream_features(model, generated), upstream_features(model, real)
    by_eigenvalues = frechet_by_eigenvalues(features_g, features_r)
    by_pytorch_fid = calculate_frechet_distance(features_g.mean(0), np.cov(features_g, rowvar=False),
                                                features_r.mean(0), np.cov(features_r, rowvar=False))
    value = record["values"]["fid"]
    assert value == pytest.approx(by_eigenvalues, rel=1e-5), (value, by_eigenvalues, by_pytorch_fid)
    assert value == pytest.approx(by_pytorch_fid, rel=1e-4)
