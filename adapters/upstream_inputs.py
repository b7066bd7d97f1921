"""Model-native inputs: a competitor's own resize and centre crop, applied to the study's original image file.

The suite's canonical inputs are 256x256, DICOM-normalised and zero-padded to square. UniXGen, LLM-CXR and CXRMate
were trained and evaluated on MIMIC-CXR-JPG (8-bit) with their own shortest-side resize and centre crop, so padded
256-pixel inputs upsampled to their resolution differ from what they saw (black side bars where they crop, less
detail, other brightness). With the adapter setting `input=upstream` the image comes instead from `Study.sources`
(manifest columns `frontal_source` / `lateral_source`, written by `data prepare-mimic`) through the model's recipe:

    UniXGen   albumentations SmallestMaxSize(512) + CenterCrop(512)      cv2 INTER_LINEAR, no antialiasing
    LLM-CXR   torchvision resize(shortest side 256, LANCZOS) + center_crop(256)   encode_cxr_all.py, on PIL
    CXRMate   Resize(shortest_edge) + CenterCrop, from its image processor        examples/cxrmate.ipynb, on PIL
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from xgem_bench.adapters.base import StudyFailure
from xgem_bench.data.images import ImageReadError, read_image
from xgem_bench.data.study import Study
from xgem_bench.tasks import Modality

#: the `input` setting of adapters that can read the original files (their `allowed_settings`)
INPUT_MODES = ("canonical", "upstream")


def source_image(study: Study, modality: Modality) -> Image.Image:
    """The original image of one view as 8-bit grey PIL (the form of MIMIC-CXR-JPG; DICOM is quantised the same way).

    Raises StudyFailure when the dataset has no original for this study, so the run records why and goes on."""
    path = study.sources.get(modality.field)
    if not path:
        raise StudyFailure(f"input=upstream needs the original {modality.field} image, and study {study.study_id} "
                           f"has none: give the manifest a {modality.field}_source column (data prepare-mimic "
                           "writes it), or use input=canonical")
    try:
        pixels = read_image(path).pixels
    except (ImageReadError, OSError) as error:
        raise StudyFailure(f"original {modality.field} image unreadable: {error}") from error
    return Image.fromarray(np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8), mode="L")


def shortest_side_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) with the shorter side scaled to `size`, each side rounded (as both upstream recipes do)."""
    scale = size / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def centre_crop_box(width: int, height: int, size: int, rounding: str) -> tuple[int, int, int, int]:
    """torchvision's center_crop rounds the offset (`round`); albumentations floors it (`floor`)."""
    if rounding == "round":
        left, top = int(round((width - size) / 2.0)), int(round((height - size) / 2.0))
    else:
        left, top = (width - size) // 2, (height - size) // 2
    return left, top, left + size, top + size


def unixgen_input(image: Image.Image, size: int = 512) -> np.ndarray:
    """SmallestMaxSize + CenterCrop as loader_unified.py builds them: cv2 INTER_LINEAR (half-pixel centres, no
    antialiasing), emulated with torch's bilinear interpolation on the 8-bit values, rounded back to 8 bit."""
    import torch
    import torch.nn.functional as F

    width, height = shortest_side_size(*image.size, size)
    x = torch.from_numpy(np.asarray(image, dtype=np.float32))[None, None]
    x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=False)
    resized = x[0, 0].round().clamp(0, 255).numpy()
    left, top, right, bottom = centre_crop_box(width, height, size, "floor")
    return (resized[top:bottom, left:right] / 255.0).astype(np.float32)


def llm_cxr_input(image: Image.Image, size: int = 256) -> np.ndarray:
    """encode_cxr_all.py's ImageDataset: shortest side to `size` with LANCZOS, centre crop (2x-1 is the driver's)."""
    width, height = shortest_side_size(*image.size, size)
    resized = image.resize((width, height), Image.LANCZOS)
    cropped = resized.crop(centre_crop_box(width, height, size, "round"))
    return (np.asarray(cropped, dtype=np.float32) / 255.0).astype(np.float32)
