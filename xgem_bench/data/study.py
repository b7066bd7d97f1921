"""The Study record: one patient study with up to three modalities and optional CheXpert-style labels."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable

import numpy as np

from xgem_bench.tasks import Modality

# The 14 CheXpert observations, in chexpert-labeler's column order.
CHEXPERT_LABELS = (
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Lesion", "Lung Opacity", "Edema",
    "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture",
    "Support Devices",
)
# The ten pathologies the paper scores (Tables 1, 3, 5).
PAPER_PATHOLOGIES = (
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Lung Lesion",
    "Lung Opacity", "Pleural Effusion", "Pneumonia", "Pneumothorax",
)
IMAGE_SIZE = 256


@dataclass
class Study:
    """Images are float32 arrays in [0, 1] of shape (H, W); labels map CheXpert names to 1 / 0 / -1 (absent = blank).

    The optional acquisition facts are inputs some models use: `frontal_view` is the frontal image's DICOM
    ViewPosition (PA / AP; UniXGen has a token set per view), `sources` the original image file per view field
    ("frontal", "lateral") for models run with their own preprocessing, `study_datetime` orders a subject's studies
    (longitudinal models prompted with the previous study). Blank when the dataset does not know them.
    """

    study_id: str
    subject_id: str = ""
    frontal: np.ndarray | None = None
    lateral: np.ndarray | None = None
    report: str | None = None
    labels: dict[str, float] = field(default_factory=dict)
    split: str = ""
    frontal_view: str = ""
    sources: dict[str, str] = field(default_factory=dict)
    study_datetime: str = ""

    def get(self, modality: Modality):
        return getattr(self, modality.field)

    def has(self, modality: Modality) -> bool:
        value = self.get(modality)
        return value is not None and (not isinstance(value, str) or bool(value.strip()))

    def only(self, modalities: Iterable[Modality]) -> "Study":
        """A copy that keeps only the given modalities (what an adapter is allowed to see), without labels.

        The acquisition facts stay (the view to generate is a request, not an answer); originals only for inputs."""
        keep = set(modalities)
        kept_images = {m.field for m in keep if m.is_image}
        return replace(self, labels={}, **{m.field: (self.get(m) if m in keep else None) for m in Modality},
                       sources={k: v for k, v in self.sources.items() if k in kept_images})


def validate_image(array: np.ndarray, where: str) -> np.ndarray:
    """Check the image contract (2-D, finite, within [0, 1]) and return it as float32."""
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"{where}: expected a 2-D grey image, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{where}: expected a float image in [0, 1], got dtype {array.dtype}")
    if not np.isfinite(array).all():
        raise ValueError(f"{where}: image contains NaN or infinite values")
    if array.min() < -1e-6 or array.max() > 1 + 1e-6:
        raise ValueError(f"{where}: image values must lie in [0, 1], got [{array.min():.4g}, {array.max():.4g}]")
    return np.clip(array, 0.0, 1.0).astype(np.float32, copy=False)
