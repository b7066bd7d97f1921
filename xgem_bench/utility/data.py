"""Training and test sets of the utility experiments: images as uint8 tensors at the classifier's size, labels 1/0/NaN.

Labels follow the XRV-classification metric's ground truth (`ground_truth`: a No Finding study is negative for every
pathology; uncertain and blank labels are undefined, NaN), so a class is trained and scored only where it is defined.
Images are kept as 8-bit (the datasets' own depth), which keeps 75k studies at 224 px within a few GB of memory.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from xgem_bench.data.dataset import Dataset
from xgem_bench.data.study import PAPER_PATHOLOGIES
from xgem_bench.metrics.xrv_classification import ground_truth
from xgem_bench.progress import progress_bar
from xgem_bench.tasks import Modality


@dataclass
class LabelledImages:
    images: torch.Tensor  # (n, size, size) uint8
    labels: np.ndarray  # (n, classes) 1 / 0 / NaN
    ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def __add__(self, other: "LabelledImages") -> "LabelledImages":
        return LabelledImages(torch.cat([self.images, other.images]), np.concatenate([self.labels, other.labels]),
                              self.ids + other.ids)

    def subset(self, positions: Sequence[int]) -> "LabelledImages":
        index = np.asarray(positions, dtype=int)
        return LabelledImages(self.images[torch.as_tensor(index, dtype=torch.long)], self.labels[index],
                              [self.ids[i] for i in index])


def to_uint8(image: np.ndarray, size: int) -> torch.Tensor:
    """A [0, 1] float image resized (bilinear, antialiased) to size x size, as 8-bit."""
    tensor = torch.as_tensor(np.asarray(image, dtype=np.float32))[None, None]
    if tensor.shape[-2:] != (size, size):
        tensor = F.interpolate(tensor, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return (tensor[0, 0].clamp(0, 1) * 255).round().to(torch.uint8)


def label_matrix(dataset: Dataset, positions: Sequence[int], classes: Sequence[str]) -> np.ndarray:
    """(n, classes) ground truth of the studies at `positions` (no pixels read)."""
    columns = [PAPER_PATHOLOGIES.index(c) for c in classes]
    return np.array([ground_truth(dataset.load(int(i), ()).labels)[columns] for i in positions],
                    dtype=np.float64).reshape(len(positions), len(classes))


def real_images(dataset: Dataset, positions: Sequence[int], view: Modality, classes: Sequence[str], size: int,
                desc: str, progress: bool = True) -> LabelledImages:
    """The `view` image and labels of each study at `positions`."""
    images = []
    bar = progress_bar(len(positions), desc, unit="study", enabled=progress)
    for i in positions:
        images.append(to_uint8(dataset.load(int(i), (view,)).get(view), size))
        bar.update(1)
    bar.close()
    stacked = torch.stack(images) if images else torch.zeros((0, size, size), dtype=torch.uint8)
    return LabelledImages(stacked, label_matrix(dataset, positions, classes),
                          [dataset.study_ids[int(i)] for i in positions])


def with_view(dataset: Dataset, split: str, view: Modality, need_report: bool = False) -> np.ndarray:
    """Positions of the split's studies that have the view (and a report, for prompts)."""
    positions = dataset.indices(split)
    keep = dataset.available(view)[positions]
    if need_report:
        keep &= dataset.available(Modality.REPORT)[positions]
    return positions[keep]
