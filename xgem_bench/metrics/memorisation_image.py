"""Memorisation of the training images: how close each generated image comes to its nearest training image.

Per generated image of one view, the nearest training image of the same view (the `training_split` of the dataset)
in a chosen `space`:
- `pixel`: normalised cross-correlation at `pixel_size`² (the image resized by area averaging, its mean removed and
  scaled to unit norm; the dot product of two such vectors is their Pearson correlation, 1 for a copy up to
  brightness/contrast);
- a feature backbone (`inception`, `xrv`, `raddino`, `dinov2`, `clip`, with its default settings): cosine
  similarity of the features.
Per study: `nn_similarity` and `above_threshold` (nn_similarity >= `threshold`, default 0.99); the values are their means (the share
above the threshold is the memorisation rate), so intervals and paired tests resample them per study. The threshold
depends on the space (features of unrelated X-rays already have high cosine similarity in Inception space): it is a
setting and goes on record. The `grid_pairs` closest pairs are drawn side by side (generated | nearest training image)
into `<artifact_dir>/memorisation-image-<space>-<view>.png`, closest first.

The training embeddings are computed once per dataset, split, view and space and cached under
`<cache_dir>/memorisation-train/`. The search is a float32 matrix product in blocks of training rows (exact, not
approximate): O(N·M·d).
"""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from xgem_bench import weights
from xgem_bench.atomic import atomic_write_bytes
from xgem_bench.metrics.base import Metric, MetricContext, Sample

SPACES = ("pixel", "inception", "xrv", "raddino", "dinov2", "clip")
THUMBNAIL = 128


def pixel_embedding(images: Sequence[np.ndarray], size: int) -> np.ndarray:
    """Area-resized, centred, unit-norm pixel vectors: their dot products are normalised cross-correlations."""
    import torch
    import torch.nn.functional as F
    rows = []
    for image in images:
        x = torch.from_numpy(np.ascontiguousarray(image, np.float32))[None, None]
        rows.append(F.interpolate(x, size=(size, size), mode="area").flatten())
    return unit_rows(torch.stack(rows).double().numpy(), centre=True)


def unit_rows(x: np.ndarray, centre: bool = False) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if centre:
        x = x - x.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def nearest(queries: np.ndarray, index: np.ndarray, block: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Largest dot product of each query row with any index row, and that row's position (exact search)."""
    best = np.full(len(queries), -np.inf, np.float32)
    where = np.zeros(len(queries), np.int64)
    for start in range(0, len(index), block):
        scores = queries @ index[start:start + block].T
        top = scores.argmax(axis=1)
        value = scores[np.arange(len(queries)), top]
        better = value > best
        best[better], where[better] = value[better], top[better] + start
    return best, where


def thumbnail(image: np.ndarray) -> np.ndarray:
    from PIL import Image
    grey = np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(grey).resize((THUMBNAIL, THUMBNAIL), Image.Resampling.BILINEAR))


def pairs_grid(pairs: list[tuple[float, np.ndarray, np.ndarray, str]]) -> bytes:
    """PNG: one row per pair, generated thumbnail | training thumbnail, captioned with the similarity."""
    from PIL import Image, ImageDraw
    caption = 14
    grid = Image.new("L", (2 * THUMBNAIL, len(pairs) * (THUMBNAIL + caption)), color=0)
    draw = ImageDraw.Draw(grid)
    for row, (similarity, generated, training, label) in enumerate(pairs):
        top = row * (THUMBNAIL + caption)
        grid.paste(Image.fromarray(generated), (0, top + caption))
        grid.paste(Image.fromarray(training), (THUMBNAIL, top + caption))
        draw.text((2, top + 1), f"{similarity:.3f} {label}", fill=255)
    buffer = io.BytesIO()
    grid.save(buffer, format="PNG")
    return buffer.getvalue()


class ImageMemorisation(Metric):
    name = "memorisation-image"
    kind = "image"
    higher_is_better = False
    primary = "above_threshold"

    def __init__(self, context: MetricContext, **settings: Any):
        super().__init__(context, **settings)
        self._check(self.settings)
        self.backbone = None
        if self.settings["space"] != "pixel":
            from xgem_bench.metrics.backbone_factory import make_backbone
            # the run's instance: the generated images' features are shared with FID, KID, ... of the same backbone
            self.backbone = self.shared_backbone(make_backbone(self.settings["space"], device=context.device))
            # which network and file made the similarities goes on record (the class declares no fixed weight)
            self.settings.update(space_backbone=self.backbone.signature,
                                 space_weights_sha256=weights.checksum(self.backbone.weight))
        self.add_state("closest", [], "extend")  # (similarity, study id, training position, thumbnail)
        self._index: np.ndarray | None = None
        self._training: np.ndarray | None = None

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        return {"space": "pixel", "threshold": 0.99, "pixel_size": 64, "training_split": "train", "grid_pairs": 8}

    @classmethod
    def allowed_settings(cls) -> dict[str, tuple]:
        return {"space": SPACES}

    @staticmethod
    def _check(settings: dict[str, Any]) -> None:
        if settings["space"] not in SPACES:
            raise ValueError(f"memorisation space {settings['space']!r} is not one of {', '.join(SPACES)}")

    @classmethod
    def unavailable_reason(cls, settings: dict[str, Any] | None = None) -> str | None:
        settings = {**cls.default_settings(), **(settings or {})}
        if settings["space"] == "pixel":
            return None
        from xgem_bench.metrics.backbone_factory import make_backbone
        try:
            cls._check(settings)
            return weights.missing_reason(make_backbone(settings["space"]).weight)
        except ValueError as error:
            return str(error)

    # ---- embeddings ---------------------------------------------------------------------------------------------
    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        if self.backbone is None:
            return pixel_embedding(images, int(self.settings["pixel_size"]))
        return unit_rows(self.backbone.features(list(images)))

    def _batched_embeddings(self, images) -> np.ndarray:
        from xgem_bench.metrics.fid import _batches
        blocks = [self.embed(batch) for batch in _batches(images, max(1, int(self.context.batch_size)))]
        return np.concatenate(blocks) if blocks else np.zeros((0, 1), np.float32)

    def generated_embeddings(self, samples: Sequence[Sample]) -> np.ndarray:
        if self.backbone is None:
            return self._batched_embeddings(self.generated_of(s) for s in samples)
        return unit_rows(self.generated_features(self.backbone, samples, self.context.modality))

    def training_positions(self) -> np.ndarray:
        ctx = self.context
        if ctx.dataset is None:
            raise ValueError("memorisation needs the training images: the metric context has no dataset")
        positions = ctx.dataset.indices(self.settings["training_split"])
        positions = positions[ctx.dataset.available(ctx.modality)[positions]]
        if not len(positions):
            raise ValueError(f"split {self.settings['training_split']!r} has no {ctx.modality.value} image")
        return positions

    def training_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit-norm embeddings of the training images (cached on disk) and their dataset positions."""
        if self._index is None:
            ctx, positions = self.context, self.training_positions()
            space = self.backbone.signature if self.backbone else f"pixel|{self.settings['pixel_size']}"
            key = json.dumps({"dataset": ctx.dataset.fingerprint(), "split": self.settings["training_split"],
                              "view": ctx.modality.value, "space": space, "n": len(positions),
                              "weights": weights.checksum(self.backbone.weight) if self.backbone else None},
                             sort_keys=True)
            path = Path(ctx.cache_dir) / "memorisation-train" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.npy"
            if not path.exists():
                images = (ctx.dataset.load(int(i), [ctx.modality]).get(ctx.modality) for i in positions)
                buffer = io.BytesIO()
                np.save(buffer, self._batched_embeddings(images))
                atomic_write_bytes(path, buffer.getvalue())
            self._index, self._training = np.load(path), positions
        return self._index, self._training

    # ---- protocol -----------------------------------------------------------------------------------------------
    def update(self, samples: Sequence[Sample]) -> None:
        index, positions = self.training_index()
        images = [self.generated_of(s) for s in samples]
        similarity, where = nearest(self.generated_embeddings(samples), index)
        keep = int(self.settings["grid_pairs"])
        for sample, image, value, position in zip(samples, images, similarity, where):
            value = float(value)
            self.record(sample.study.study_id, nn_similarity=value,
                        above_threshold=float(value >= float(self.settings["threshold"])))
            self.closest.append((value, sample.study.study_id, int(positions[position]), thumbnail(image)))
        self.closest = sorted(self.closest, key=lambda pair: -pair[0])[:keep]

    def compute(self) -> dict[str, float]:
        rows = list(self.per_sample().values())
        if not rows:
            raise ValueError("memorisation-image scored no image")
        similarity = np.array([r["nn_similarity"] for r in rows])
        if self.context.artifact_dir is not None and self.closest:
            self._write_grid()
        return {"above_threshold": float(np.mean([r["above_threshold"] for r in rows])),
                "nn_similarity": float(similarity.mean()), "max_nn_similarity": float(similarity.max()),
                "n_generated": float(len(rows)), "n_training": float(len(self.training_index()[1]))}

    def _write_grid(self) -> None:
        ctx = self.context
        closest = sorted(self.closest, key=lambda pair: -pair[0])[:int(self.settings["grid_pairs"])]
        ids = ctx.dataset.study_ids
        pairs = [(value, small, thumbnail(ctx.dataset.load(position, [ctx.modality]).get(ctx.modality)),
                  f"{study_id} ~ train {ids[position]}") for value, study_id, position, small in closest]
        name = f"{self.name}-{self.settings['space']}-{ctx.modality.value}.png"
        atomic_write_bytes(Path(ctx.artifact_dir) / name, pairs_grid(pairs))
