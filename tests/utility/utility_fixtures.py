"""A tiny labelled dataset for the utility tests: 32 px phantoms whose class is visible (a bright blob per finding)."""
from __future__ import annotations

import numpy as np

from xgem_bench.data.dataset import InMemoryDataset
from xgem_bench.data.study import Study

CLASSES = ("Cardiomegaly", "Pleural Effusion")
REPORTS = {(0, 0): "No acute cardiopulmonary process.", (1, 0): "The heart is enlarged.",
           (0, 1): "Small left pleural effusion.", (1, 1): "Cardiomegaly with a small pleural effusion."}


def _image(rng: np.random.Generator, labels: tuple[int, int]) -> np.ndarray:
    image = rng.uniform(0.0, 0.2, (32, 32)).astype(np.float32)
    if labels[0]:
        image[10:22, 10:22] += 0.6
    if labels[1]:
        image[24:30, 2:12] += 0.6
    return np.clip(image, 0, 1)


def tiny_dataset(n_train: int = 24, n_validate: int = 8, n_test: int = 12, seed: int = 0,
                 rare: float = 0.15) -> InMemoryDataset:
    """Cardiomegaly common (half the studies), Pleural Effusion rare (`rare` of the studies) in every split."""
    rng = np.random.default_rng(seed)
    studies = []
    for split, n in (("train", n_train), ("validate", n_validate), ("test", n_test)):
        for i in range(n):
            labels = (int(i % 2 == 0), int(i < max(2, round(rare * n))))
            studies.append(Study(study_id=f"{split}-{i}", subject_id=f"{split}-{i}", split=split,
                                 frontal=_image(rng, labels), lateral=_image(rng, labels), report=REPORTS[labels],
                                 labels={"Cardiomegaly": float(labels[0]), "Pleural Effusion": float(labels[1])}))
    return InMemoryDataset(studies, name="tiny utility phantoms", synthetic=True)
