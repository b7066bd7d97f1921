"""Helpers of the reference-model tests, imported by name: a small study set with visible structure, and the tiny
configuration shrunk further so that every stage trains in seconds."""
import numpy as np

from xgem_bench.data.study import Study

REPORTS = (
    "no acute cardiopulmonary abnormality.",
    "cardiomegaly with small bilateral pleural effusions.",
    "right lower lobe consolidation concerning for pneumonia.",
    "small left apical pneumothorax.",
    "mild pulmonary edema. no pneumothorax.",
    "stable cardiomediastinal silhouette. no focal consolidation.",
)


def toy_studies(n: int = 24, size: int = 64, seed: int = 0) -> list[Study]:
    """Images whose content follows the report (a bright disc whose radius encodes the finding)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    studies = []
    for i in range(n):
        k = i % len(REPORTS)
        radius = 0.1 + 0.05 * k
        disc = ((yy - 0.5) ** 2 + (xx - 0.5) ** 2 < radius ** 2).astype(np.float32)
        frontal = np.clip(0.2 + 0.6 * disc + 0.05 * rng.standard_normal((size, size)), 0, 1).astype(np.float32)
        lateral = np.clip(0.3 + 0.5 * disc.T[::-1] + 0.05 * rng.standard_normal((size, size)), 0, 1).astype(
            np.float32)
        studies.append(Study(study_id=f"s{i:03d}", subject_id=f"p{i:03d}", frontal=frontal, lateral=lateral,
                             report=REPORTS[k], split="test" if i % 6 == 5 and i >= 18 else "train"))
    return studies


def fast_config():
    """`tiny` at 32x32 pixels (8x8 latents), one epoch per stage, batch 8."""
    from xgem_bench.reference_model.config import StageHyper, tiny_config
    config = tiny_config()
    config.image_vae.image_size = config.clip.image_size = 32
    config.hyper = {k: StageHyper(lr=h.lr, batch_size=8, epochs=1, grad_clip=h.grad_clip)
                    for k, h in config.hyper.items()}
    return config
