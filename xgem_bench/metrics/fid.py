"""Fréchet distance between Gaussians fitted to image features, streamed, per output view (F or L).

**Distance.** `frechet_distance(mu1, sigma1, mu2, sigma2)` = |mu1-mu2|² + tr Σ1 + tr Σ2 - 2 tr √(Σ1Σ2), in float64.
The trace term avoids `scipy.linalg.sqrtm` (complex results, scipy 1.11.2 regression, removed `disp`): the eigenvalues
of Σ1Σ2 equal those of the symmetric matrix AᵀΣ2A for any A with AAᵀ = Σ1 (Cholesky factor when Σ1 is positive
definite, else V·√max(w, 0) from `eigh`), so tr √(Σ1Σ2) = Σ √max(λᵢ, 0) with λ from `eigvalsh`. If that fails,
pytorch-fid's fallback applies: eps·I is added to both covariances.

**Features** of generated images come from the run's feature service (`xgem_bench.features`): one backbone pass
per generated image, shared with every other metric of the run on the same backbone (xrv-classification, hamming).

**Streaming.** Features are accumulated as float64 sums (n, Σx, Σxxᵀ); memory is O(d²) whatever the number of images,
and ranks merge by adding the sums. The covariance is the unbiased one (`np.cov(rowvar=False)`), as in pytorch-fid.

**Reference statistics** (the real images of the evaluated studies, the `ReferenceSet` the runner hands to
`prepare_reference` before `compute()`, for the view being scored) are cached under `<cache_dir>/fid-reference/`
keyed by dataset fingerprint + split + modality + backbone signature (preprocessing, layer, weights) + weight
checksum + the set of reference study ids:
`<key>.npz` (n, sum, outer, ids, meta) and `<key>.features.npy` (float32 (M, d), memory-mappable).

**Per-study features artefact** (for bootstrap intervals without re-extraction): when `context.artifact_dir` is set,
`compute()` writes `<artifact_dir>/<metric>-<modality>.npz` with
  - `generated_ids` (str, N), `generated` (float32, N×d): features of the generated image of each study, in the
    order the studies were scored (all ranks);
  - `reference_ids` (str, M), `reference` (float32, M×d): features of the real images of the reference set;
  - `meta` (0-d str): JSON with metric, modality, signature, backbone, dim.
FID of a bootstrap resample = `frechet_distance` of the mean/`np.cov(rowvar=False)` of the resampled rows.
While scoring, each metric instance appends its rows to a hidden `.part` file in artifact_dir (so memory stays flat);
with several ranks the folder must be shared, as the runner's results folder is.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
import zipfile
from pathlib import Path
from typing import Any, ClassVar, Iterable, Sequence

import numpy as np

from xgem_bench import once, weights
from xgem_bench.atomic import atomic_path
from xgem_bench.metrics.base import Metric, MetricContext, ReferenceSet, Sample
from xgem_bench.metrics.frechet import frechet_distance

logger = logging.getLogger(__name__)


# ---- streamed statistics ----------------------------------------------------------------------------------------
def accumulate(holder, features: np.ndarray) -> None:
    """Add a batch of features to the float64 sums `n`, `total`, `outer` of `holder`."""
    x = np.asarray(features, np.float64)
    holder.n += len(x)
    holder.total += x.sum(axis=0)
    holder.outer += x.T @ x


class GaussianSums:
    """Running float64 sums of features: n, Σx, Σxxᵀ."""

    def __init__(self, dim: int):
        self.n = 0
        self.total = np.zeros(dim, np.float64)
        self.outer = np.zeros((dim, dim), np.float64)

    def update(self, features: np.ndarray) -> None:
        accumulate(self, features)

    @staticmethod
    def mean_cov(n: int, total: np.ndarray, outer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if n < 2:
            raise ValueError(f"FID needs at least 2 images per set, got {n}")
        mu = total / n
        cov = (outer - n * np.outer(mu, mu)) / (n - 1)
        return mu, (cov + cov.T) / 2

    def mean_cov_of(self) -> tuple[np.ndarray, np.ndarray]:
        return self.mean_cov(self.n, self.total, self.outer)


def warn_if_rank_deficient(n: int, dim: int, what: str) -> bool:
    """Loud warning when a covariance estimate cannot have full rank; True if so."""
    if n > dim:
        return False
    message = (f"FID {what}: only {n} images for {dim}-dimensional features (N <= d): the covariance is singular "
               f"and the FID is biased and unstable; use more than {dim} images (>= 5,000 is the usual advice). "
               "Said once per run: every affected FID has rank_deficient=1 in the results")
    # logging, not warnings: importing torchxrayvision switches every Python warning off
    once.warn(logger, "fid-rank-deficient", message)
    return True


# ---- files ------------------------------------------------------------------------------------------------------
def write_npz(path: Path, arrays: dict[str, Any]) -> None:
    """Write an .npz whose entries may be lists of row blocks (e.g. memory maps), without concatenating them."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", allowZip64=True) as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as handle:
                if not isinstance(value, list):
                    np.lib.format.write_array(handle, np.asarray(value))
                    continue
                shape = (sum(len(b) for b in value),) + value[0].shape[1:]
                np.lib.format.write_array_header_2_0(handle, {"descr": np.lib.format.dtype_to_descr(value[0].dtype),
                                                              "fortran_order": False, "shape": shape})
                for block in value:
                    for start in range(0, len(block), 4096):
                        handle.write(np.ascontiguousarray(block[start:start + 4096]).tobytes())


def _read_part(path: str, dim: int) -> np.ndarray:
    if os.path.getsize(path) == 0:
        return np.zeros((0, dim), np.float32)
    return np.memmap(path, dtype=np.float32, mode="r").reshape(-1, dim)


# ---- the metric -------------------------------------------------------------------------------------------------
class FrechetDistance(Metric):
    """FID on one backbone for one image view; subclasses name the backbone (fid_inception, fid_xrv, fid_xrv_mimic)."""

    kind = "image"
    higher_is_better = False
    primary = "fid"
    #: at fixed N: a resample with replacement inflates FID (see `xgem_bench.intervals`)
    paired_test = "randomisation"
    backbone_name: ClassVar[str]

    def __init__(self, context: MetricContext, **settings: Any):
        super().__init__(context, **settings)
        from xgem_bench.metrics.backbone_factory import make_backbone
        self.backbone = self.shared_backbone(make_backbone(self.backbone_name, device=context.device,
                                                           **self.settings))
        self.settings.update(self.backbone.settings)  # resolved values (e.g. which Inception file) go on record
        dim = self.backbone.dim
        self.add_state("n", 0, "sum")
        self.add_state("total", np.zeros(dim, np.float64), "sum")
        self.add_state("outer", np.zeros((dim, dim), np.float64), "sum")
        self.add_state("generated_ids", [], "extend")
        self.add_state("feature_parts", [], "extend")
        self._part: str | None = None
        self._artifact_written = False
        #: (sums, study ids, features file) of the real images, from `prepare_reference`
        self._reference: tuple[GaussianSums, list[str], Path] | None = None

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        from xgem_bench.metrics.backbone_factory import backbone_settings
        return backbone_settings(cls.backbone_name)

    @classmethod
    def unavailable_reason(cls, settings: dict[str, Any] | None = None) -> str | None:
        from xgem_bench.metrics.backbone_factory import make_backbone
        try:
            backbone = make_backbone(cls.backbone_name, **(settings or cls.default_settings()))
        except ValueError as error:
            return str(error)
        return weights.missing_reason(backbone.weight)

    @classmethod
    def resampleable(cls, stored, key: str):
        from xgem_bench.metrics.fid_resampling import fid_resampleable
        return fid_resampleable(stored, key)

    @property
    def _label(self) -> str:
        modality = self.context.modality.value if self.context.modality else "joint"
        return f"{self.name}-{modality}"

    # ---- scoring ------------------------------------------------------------------------------------------------
    def _batches(self, images: Iterable[tuple[str, np.ndarray]]) -> Iterable[tuple[list[str], np.ndarray]]:
        """Features of real images, streamed in batches (through the run's feature service when there is one, so
        its pass counts include them; nothing is kept)."""
        from xgem_bench.features import FeatureService
        service = self.context.features or FeatureService(self.context.batch_size)
        size = max(1, int(self.context.batch_size))
        ids, batch = [], []
        for study_id, image in images:
            ids.append(study_id)
            batch.append(image)
            if len(batch) == size:
                yield ids, service.features(self.backbone, batch)
                ids, batch = [], []
        if batch:
            yield ids, service.features(self.backbone, batch)

    def update(self, samples: Sequence[Sample]) -> None:
        features = self.generated_features(self.backbone, samples, self.context.modality)
        size = max(1, int(self.context.batch_size))
        for start in range(0, len(samples), size):  # the sums grow batch by batch, as they always did
            block = features[start:start + size]
            accumulate(self, block)
            self.generated_ids.extend(s.study.study_id for s in samples[start:start + size])
            self._keep_features(block)

    def _keep_features(self, features: np.ndarray) -> None:
        if self.context.artifact_dir is None:
            return
        if self._part is None:
            folder = Path(self.context.artifact_dir)
            folder.mkdir(parents=True, exist_ok=True)
            self._part = str(folder / f".{self._label}-{uuid.uuid4().hex}.part")
            self.feature_parts.append(self._part)
        with open(self._part, "ab") as handle:
            handle.write(np.ascontiguousarray(features, np.float32).tobytes())

    # ---- reference ----------------------------------------------------------------------------------------------
    def reference_ids(self, reference: ReferenceSet | None = None) -> list[str]:
        """Studies of the reference set (default: the context's) with a real image of the scored view."""
        if reference is None:
            if self.context.dataset is None:
                raise ValueError("FID needs the real images: the metric context has no dataset")
            reference = self.context.reference_set()
        return reference.study_ids(self.context.modality)

    def reference_key(self, ids: list[str]) -> str:
        ctx = self.context
        description = {"dataset": ctx.dataset.fingerprint(), "split": ctx.split, "modality": ctx.modality.value,
                       "backbone": self.backbone.signature, "weights": weights.checksum(self.backbone.weight),
                       "ids": hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()}
        return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:24]

    def prepare_reference(self, reference: ReferenceSet) -> None:
        """Sums, study ids and the features file of the real images of `reference`, from the cache or extracted
        now (the runner calls this before `compute()`)."""
        ids = self.reference_ids(reference)
        folder = Path(self.context.cache_dir) / "fid-reference"
        # named by backbone, not metric: FID, KID, PRDC, ... of one backbone share the reference features (the key
        # holds the backbone's signature and weights)
        stem = folder / f"{self.backbone.name}-{self.context.modality.value}-{self.reference_key(ids)}"
        stats_path, features_path = stem.with_suffix(".npz"), stem.with_suffix(".features.npy")
        if not (stats_path.exists() and features_path.exists()):
            self._extract_reference(reference, ids, stats_path, features_path)
        with np.load(stats_path) as cached:
            sums = GaussianSums(self.backbone.dim)
            sums.n, sums.total, sums.outer = int(cached["n"]), cached["total"], cached["outer"]
            cached_ids = [str(i) for i in cached["ids"]]
        self._reference = sums, cached_ids, features_path

    def _extract_reference(self, reference: ReferenceSet, ids: list[str], stats_path: Path,
                           features_path: Path) -> None:
        ctx = self.context
        if not ids:
            raise ValueError(f"the reference set has no real {ctx.modality.value} image to compare with")
        stats_path.parent.mkdir(parents=True, exist_ok=True)
        wanted = set(ids)
        studies = (s for s in reference.studies() if s.study_id in wanted and s.has(ctx.modality))
        with atomic_path(features_path) as tmp_features:
            rows = np.lib.format.open_memmap(tmp_features, mode="w+", dtype=np.float32,
                                             shape=(len(ids), self.backbone.dim))
            sums, seen, row = GaussianSums(self.backbone.dim), [], 0
            for batch_ids, features in self._batches((s.study_id, s.get(ctx.modality)) for s in studies):
                sums.update(features)
                rows[row:row + len(features)] = features
                row += len(features)
                seen.extend(batch_ids)
            rows.flush()
            del rows
            if seen != ids:
                raise ValueError(f"the reference set yielded {len(seen)} {ctx.modality.value} images, "
                                 f"expected {len(ids)}")
        meta = json.dumps({"backbone": self.backbone.signature, "modality": ctx.modality.value, "split": ctx.split,
                           "dataset": ctx.dataset.fingerprint()})
        with atomic_path(stats_path) as tmp_stats:  # suffix .npz kept: np.savez would add one otherwise
            np.savez(tmp_stats, n=sums.n, total=sums.total, outer=sums.outer, ids=np.array(ids, dtype=str), meta=meta)

    # ---- result -------------------------------------------------------------------------------------------------
    def compute(self) -> dict[str, float]:
        dim = self.backbone.dim
        if self._reference is None:  # used on its own: the context's reference set
            self.prepare_reference(self.context.reference_set())
        reference, reference_ids, reference_features = self._reference
        deficient = warn_if_rank_deficient(self.n, dim, f"{self._label} generated set")
        deficient |= warn_if_rank_deficient(reference.n, dim, f"{self._label} reference set")
        mu1, sigma1 = GaussianSums.mean_cov(self.n, self.total, self.outer)
        mu2, sigma2 = reference.mean_cov_of()
        value = frechet_distance(mu1, sigma1, mu2, sigma2)
        if self.context.artifact_dir is not None and not self._artifact_written:
            self._write_artifact(reference_ids, reference_features)
        return {"fid": value, "n_generated": float(self.n), "n_reference": float(reference.n), "dim": float(dim),
                "rank_deficient": float(deficient)}

    def _write_artifact(self, reference_ids: list[str], reference_features: Path) -> None:
        dim = self.backbone.dim
        parts = [_read_part(p, dim) for p in self.feature_parts] or [np.zeros((0, dim), np.float32)]
        meta = json.dumps({"metric": self.name, "modality": self.context.modality.value, "dim": dim,
                           "signature": self.signature, "backbone": self.backbone.signature})
        write_npz(Path(self.context.artifact_dir) / f"{self._label}.npz", {
            "generated_ids": np.array(self.generated_ids, dtype=str), "generated": parts,
            "reference_ids": np.array(reference_ids, dtype=str),
            "reference": [np.load(reference_features, mmap_mode="r")], "meta": np.array(meta)})
        del parts
        for part in self.feature_parts:
            Path(part).unlink(missing_ok=True)
        self._artifact_written = True


def fid_between(images_a: Iterable[np.ndarray], images_b: Iterable[np.ndarray], backbone: str = "inception",
                device: str | None = "auto", batch_size: int = 32, keep_features: bool = False,
                **settings: Any) -> dict[str, Any]:
    """FID between two streams of X-rays (float32 [0, 1], (H, W)); the Python API of `xgem-bench fid`.

    `keep_features`: also return each set's features (`features_a`, `features_b`: float32 (n, d)), e.g. for a
    bootstrap interval."""
    from xgem_bench.metrics.backbone_factory import make_backbone
    net = make_backbone(backbone, device=device, **settings)
    stats, kept = [], []
    for images, what in ((images_a, "set A"), (images_b, "set B")):
        sums, blocks = GaussianSums(net.dim), []
        for batch in _batches(images, batch_size):
            features = net.features(batch)
            sums.update(features)
            if keep_features:
                blocks.append(features)
        warn_if_rank_deficient(sums.n, net.dim, what)
        stats.append(sums)
        kept.append(np.concatenate(blocks) if blocks else np.zeros((0, net.dim), np.float32))
    (mu1, s1), (mu2, s2) = (s.mean_cov_of() for s in stats)
    result = {"fid": frechet_distance(mu1, s1, mu2, s2), "n_a": stats[0].n, "n_b": stats[1].n,
              "backbone": net.signature, "weights": net.weight, "weights_sha256": weights.checksum(net.weight)}
    if keep_features:
        result.update(features_a=kept[0], features_b=kept[1])
    return result


def _batches(images: Iterable[np.ndarray], size: int) -> Iterable[list[np.ndarray]]:
    batch = []
    for image in images:
        batch.append(image)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
