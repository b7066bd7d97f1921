"""Mean absolute pixel difference between a generated X-ray and the real one of the same study (both in [0, 1]).

A paired fidelity statistic, not a distribution metric: it rewards reproducing the study's own image, so the oracle
scores 0 and unrelated images score high. Images of different sizes are compared after an area resize of the
generated image to the reference size.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from xgem_bench.metrics.base import PerSampleMean


def resize_to(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if image.shape == shape:
        return image
    resized = Image.fromarray(image.astype(np.float32), mode="F").resize((shape[1], shape[0]), Image.Resampling.BOX)
    return np.asarray(resized, dtype=np.float32)


class PixelMAE(PerSampleMean):
    name = "pixel-mae"
    kind = "image"
    higher_is_better = False
    primary = "pixel_mae"

    def score(self, generated, reference) -> float:
        reference = np.asarray(reference, dtype=np.float64)
        generated = resize_to(np.asarray(generated, dtype=np.float32), reference.shape)
        return float(np.abs(generated.astype(np.float64) - reference).mean())
