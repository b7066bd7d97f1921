"""Does a trained XGeM follow its report? Toy studies whose finding is the radius of a bright central disc (0.10 or
0.35 of the image), a frontal pipeline (CLIP, image VAE, frontal LDM) trained on them (400 LDM epochs: see EPOCHS),
then T->F generated for each report with the same seeds: the large-disc report must light up the ring between the
two radii, seed by seed.

The ground truth is the toy data's own construction, not the model: a model that ignores its prompt (a broken
conditioning path, a prompt embedding that does not reach the UNet) gives identical images for both reports and
fails."""
import numpy as np
import pytest
import torch

from xgem_bench.data.dataset import InMemoryDataset
from xgem_bench.reference_model import model as xm
from xgem_bench.reference_model.config import StageHyper
from xgem_bench.reference_model.model import XGeM
from xgem_bench.reference_model.stage_training import train_clip, train_image_vae, train_ldm
from xgem_bench.reference_model.training import prepare_checkpoint

import xgem_bench.reference_model.config as config_module
from refmodel_fixtures import REPORTS, fast_config, toy_studies

pytestmark = pytest.mark.slow
SMALL, LARGE = 0, 5  # REPORTS[k] is drawn with a disc of radius 0.10 + 0.05 k
RADII = {SMALL: 0.10, LARGE: 0.35}
EPOCHS = {"clip": 1, "image-vae": 30, "ldm-image": 400}
#: measured gains (the asserted quantity) over six sampling seeds, per training seed: 150 LDM epochs 0.04-0.08 on
#: average (one seed of three reached 0.25), 400 epochs 0.21 and 0.30 (every sample >= 0.18)
TRAINING_SEED = 0


@pytest.fixture(scope="module")
def frontal_model(tmp_path_factory):
    studies = [s for i, s in enumerate(toy_studies(96, size=32)) if i % len(REPORTS) in RADII]
    dataset = InMemoryDataset(studies, name="toy-discs", synthetic=True)
    root = tmp_path_factory.mktemp("xgem-discs")
    presets, threads = dict(config_module.PRESETS), torch.get_num_threads()
    config_module.PRESETS["tiny"] = fast_config
    torch.set_num_threads(1)
    try:
        prepare_checkpoint(root, "tiny", dataset)
        for train, stage, args in ((train_clip, "clip", ()), (train_image_vae, "image-vae", ()),
                                   (train_ldm, "ldm-image", ("frontal",))):
            config = xm.load_config(root)
            hyper = config.hyper[stage]
            config.hyper[stage] = StageHyper(lr=hyper.lr, batch_size=8, epochs=EPOCHS[stage],
                                             grad_clip=hyper.grad_clip)
            torch.manual_seed(TRAINING_SEED)  # initial weights do not depend on what ran before in the session
            train(root, config, dataset, *args, progress=False)
        yield XGeM.load(root, "xgem", modalities=("frontal",), joint=False)
    finally:
        config_module.PRESETS.clear()
        config_module.PRESETS.update(presets)
        torch.set_num_threads(threads)


def ring_brightness(images: list[np.ndarray]) -> np.ndarray:
    """Mean intensity between the two radii: background for the small disc, disc for the large one."""
    size = images[0].shape[0]
    yy, xx = (np.mgrid[:size, :size] + 0.5) / size
    r = np.hypot(yy - 0.5, xx - 0.5)
    ring = (r > RADII[SMALL] + 0.05) & (r < RADII[LARGE] - 0.05)
    return np.array([image[ring].mean() for image in images])


def test_generated_frontals_follow_the_reports_finding(frontal_model):
    seeds = list(range(6))
    brightness = {}
    for k in RADII:
        out = frontal_model.generate({"report": [REPORTS[k]] * len(seeds)}, ["frontal"], seeds, steps=20)
        brightness[k] = ring_brightness(out["frontal"])
    gain = brightness[LARGE] - brightness[SMALL]  # same seed, same starting noise: only the report differs
    # the training images' ring differs by 0.6 (disc 0.8 against background 0.2); measured: 0.18-0.24 per seed
    assert (gain > 0.05).all() and gain.mean() > 0.1, gain
