"""The bundled demo checkpoint (reference_model/checkpoints/tiny128-demo): intact, installable offline through the
weights manager, loadable by the adapters, and trained (not random weights), checked on the demo's own images."""
import numpy as np
import pytest
import torch

from xgem_bench import weights
from xgem_bench.adapters import get_adapter_class
from xgem_bench.adapters.base import AdapterContext
from xgem_bench.metrics.coherence import encoder_problem, encoder_root
from xgem_bench.reference_model.demo_checkpoint import BUNDLED, WEIGHT_NAME
from xgem_bench.synthetic.demo import load_demo
from xgem_bench.tasks import Modality, parse_task

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


def test_the_bundled_folder_is_the_catalogued_one():
    spec = weights.get(WEIGHT_NAME)
    assert spec.sha256, "the catalog entry must pin the bundled folder's sha256"
    assert weights.sha256_of(BUNDLED) == spec.sha256
    size = sum(f.stat().st_size for f in BUNDLED.rglob("*") if f.is_file())
    assert size <= 30 * 2 ** 20  # the repository's budget for it


def test_the_adapters_and_coherence_refuse_it_until_imported_and_then_use_it():
    fix = f"xgem-bench weights import {WEIGHT_NAME} --from-package xgem-bench"
    adapter = get_adapter_class("xgem")(checkpoint="demo", steps=2)
    assert fix in (adapter.unavailable_reason() or "")
    assert fix in (encoder_problem("demo") or "")
    weights.import_from_package(WEIGHT_NAME, "xgem-bench")
    assert encoder_problem("demo") is None and encoder_root("demo") == weights.get(WEIGHT_NAME).path
    dataset = load_demo()
    studies = [dataset.load(int(i), (Modality.LATERAL, Modality.REPORT)) for i in dataset.indices("test")[:2]]
    for name in ("xgem", "codi-xr"):
        adapter = get_adapter_class(name)(checkpoint="demo", steps=2)
        assert adapter.unavailable_reason() is None
        assert adapter.checkpoint_id() == f"{WEIGHT_NAME}={weights.get(WEIGHT_NAME).sha256}"
        adapter.setup(AdapterContext())
        out = adapter.generate(studies, parse_task("L->F+T"), [0, 1])
        for row in out:
            assert row[Modality.FRONTAL].shape == (256, 256)
            assert 0 <= row[Modality.FRONTAL].min() and row[Modality.FRONTAL].max() <= 1
            assert isinstance(row[Modality.REPORT], str) and row[Modality.REPORT].strip()


def test_its_image_vae_reconstructs_demo_frontals_it_never_saw():
    """Trained weights, not random ones: the test split's frontals come back within 0.03 mean absolute error (a
    random other phantom is ~0.07 away; an untrained VAE returns near-constant images, ~0.3)."""
    weights.import_from_package(WEIGHT_NAME, "xgem-bench")
    adapter = get_adapter_class("xgem")(checkpoint="demo")
    adapter.setup(AdapterContext())
    model = adapter.model
    dataset = load_demo()
    images = np.stack([dataset.load(int(i), (Modality.FRONTAL,)).frontal for i in dataset.indices("test")[:8]])
    with torch.inference_mode():
        z = model.image_posterior(torch.as_tensor(images)).mode() * model.image_scale
        back = np.stack(model.decode_images(z))
    assert np.abs(back - images).mean() < 0.03
