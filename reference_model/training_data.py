"""What the stages train on: an xgem-bench Dataset's studies as tensors, batched, and the studies a stage can use."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset

from xgem_bench.reference_model import model as xm
from xgem_bench.reference_model.config import MODALITIES
from xgem_bench.tasks import Modality

#: decoded studies are kept in memory when both views of all of them fit in this many bytes (`tiny`, the demo);
#: at `paper` size on MIMIC-CXR (0.5 MB per study) they are read again every epoch instead
IMAGE_CACHE_BYTES = 1 << 30


class StudyTensors(TorchDataset):
    """Studies of an xgem-bench Dataset as tensors at the model's image size (missing views are zeros)."""

    def __init__(self, dataset, indices: Sequence[int], image_size: int, cache: bool | None = None):
        self.dataset, self.indices, self.size = dataset, list(indices), image_size
        if cache is None:
            cache = len(self.indices) * 2 * image_size ** 2 * 4 <= IMAGE_CACHE_BYTES
        self._cache: dict[int, dict] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        study = self.dataset.load(self.indices[i])
        item = {"index": i, "report": study.report or "",
                "has": torch.tensor([study.has(Modality(xm.CODES[m])) for m in MODALITIES])}
        for view in ("frontal", "lateral"):
            image = getattr(study, view)
            item[view] = (xm._resize(torch.as_tensor(np.asarray(image, dtype=np.float32))[None], self.size)[0, 0]
                          if image is not None else torch.zeros(self.size, self.size))
        if self._cache is not None:
            self._cache[i] = item
        return item


def collate(items: list[dict]) -> dict:
    return {"index": torch.tensor([it["index"] for it in items]), "report": [it["report"] for it in items],
            "has": torch.stack([it["has"] for it in items]),
            "frontal": torch.stack([it["frontal"] for it in items]),
            "lateral": torch.stack([it["lateral"] for it in items])}


def training_indices(dataset, split: str) -> np.ndarray:
    """Indices of the split to train on ("all" = every study; never the test split by default)."""
    return dataset.indices(split)


def usable_studies(dataset, split, config, targets: Sequence[str], need_prompt: bool) -> StudyTensors:
    """Training studies that have every target and (for an LDM) at least one other modality to prompt with."""
    masks = {m: dataset.available(Modality(xm.CODES[m])) for m in MODALITIES}
    keep = []
    for i in training_indices(dataset, split):
        if all(masks[m][i] for m in targets) and (not need_prompt or any(masks[m][i] for m in MODALITIES
                                                                         if m not in targets)):
            keep.append(int(i))
    if not keep:
        raise ValueError(f"no training studies with {', '.join(targets)} in split {split!r}")
    return StudyTensors(dataset, keep, config.image_vae.image_size)


class IndexDataset(TorchDataset):
    """0 .. n-1: the alignment stage reads its precomputed tables by study position."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i
