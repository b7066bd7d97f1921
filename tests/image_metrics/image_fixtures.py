"""Helpers of the image-metric tests, imported by name."""
from pathlib import Path

import numpy as np

#: real radiographs of the shared data folder (absent on a fresh clone: those tests skip)
SHARED_IMAGES = Path(__file__).resolve().parents[3] / "shared" / "data" / "images"


def grey_images(n: int, size: int = 64, seed: int = 0) -> list[np.ndarray]:
    """Smooth random grey images in [0, 1] (structured enough for features to vary)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = []
    for _ in range(n):
        a, b, c = rng.uniform(0.5, 4, 3)
        image = 0.5 + 0.25 * np.sin(a * 6 * xx + b) * np.cos(c * 6 * yy) + 0.1 * rng.standard_normal((size, size))
        images.append(np.clip(image, 0, 1).astype(np.float32))
    return images
