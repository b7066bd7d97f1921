"""Two small sets of 8-bit PNGs and a test adapter that "generates" the second set, for whole-value FID parity."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from xgem_bench.adapters.base import Adapter
from xgem_bench.data import InMemoryDataset, Study
from xgem_bench.data.images import read_image

N_IMAGES = 6


def write_png_set(folder: Path, images) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)).save(folder / f"{i:02d}.png")
    return folder


def read_png_set(folder: Path) -> list[np.ndarray]:
    return [read_image(p).pixels for p in sorted(Path(folder).glob("*.png"))]


def png_dataset(folder: Path) -> InMemoryDataset:
    """Every PNG of `folder` as the frontal view of a test-split study (s00, s01, ...), with a report."""
    studies = [Study(study_id=f"s{i:02d}", frontal=image, report="no acute process", split="test")
               for i, image in enumerate(read_png_set(folder))]
    return InMemoryDataset(studies, name=f"pngs-{Path(folder).name}")


class PngFolderAdapter(Adapter):
    """T->F: the frontal of study s<i> is the i-th PNG of `folder` (exact 8-bit values, so nothing is re-quantised)."""

    name = "png-folder"
    tasks = ("T->F",)

    @classmethod
    def default_settings(cls):
        return {"folder": None}

    def generate(self, studies, task, seeds):
        images = read_png_set(self.settings["folder"])
        return [{task.outputs[0]: images[int(s.study_id[1:])]} for s in studies]
