"""Conversions from what upstream models produce to the suite's canonical outputs."""
from __future__ import annotations

import numpy as np

from xgem_bench.data.images import to_model_input
from xgem_bench.data.study import validate_image


def to_canonical_image(array: np.ndarray, where: str) -> np.ndarray:
    """A model's [0, 1] image, (H, W), (H, W, 3) or (3, H, W), as the suite's 256x256 float32 grey image.

    Colour becomes ITU-R 601 luma (what PIL's convert("L") does); size goes through the suite's own
    pad-to-square + resize (area filter when shrinking).
    """
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 3 and array.shape[-1] == 3:
        array = array @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    elif array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    return to_model_input(validate_image(array, where))
