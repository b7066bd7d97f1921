"""Mean absolute pixel difference between a generated X-ray and the real one of the same study (both in [0, 1]).

A paired fidelity statistic, not a distribution metric: it rewards reproducing the study's own image, so the oracle
scores 0 and unrelated images score high. Images of different sizes are compared after an area resize of the
generated image to the reference size.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image

from xgem_bench.metrics.base import Metric, Sample


def resize_to(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if image.shape == shape:
        return image
    resized = Image.fromarray(image.astype(np.float32), mode="F").resize((shape[1], shape[0]), Image.Resampling.BOX)
    return np.asarray(resized, dtype=np.float32)


class PixelMAE(Metric):
    name = "pixel-mae"
    kind = "image"
    higher_is_better = False
    primary = "pixel_mae"

    def __init__(self, context, **settings):
        super().__init__(context, **settings)
        self.add_state("total", 0.0, "sum")
        self.add_state("count", 0, "sum")

    def update(self, samples: Sequence[Sample]) -> None:
        for sample in samples:
            reference = np.asarray(self.reference_of(sample), dtype=np.float64)
            generated = resize_to(np.asarray(self.generated_of(sample), dtype=np.float32), reference.shape)
            value = float(np.abs(generated.astype(np.float64) - reference).mean())
            self.total += value
            self.count += 1
            self.record(sample.study.study_id, pixel_mae=value)

    def compute(self) -> dict[str, float]:
        return {"pixel_mae": self.total / self.count if self.count else float("nan"), "n": self.count}
