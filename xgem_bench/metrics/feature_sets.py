"""Set-level image metrics computed from the whole feature matrices of the generated and the real images.

FID only needs streamed means and covariances; KID, precision/recall/density/coverage, CMMD and FD∞ need every
feature row. `FeatureSetMetric` reuses the FID machinery (`fid.FrechetDistance`: the backbone shared through the
run's feature service, the reference set the runner prepares, its cached features, the per-study features artefact)
and keeps the generated rows instead of the sums. A subclass declares `backbone_name`, its own settings
(`set_settings`) and `values_of(generated, reference, settings)`, the pure function of two feature matrices that gives
its values; the same function recomputes resamples from the artefact (`resampleable`), so intervals and `compare`
never re-extract features.

Resampling: with replacement, a study drawn twice sits at distance 0 from itself, which breaks nearest-neighbour and
kernel statistics; all of these use half-sampling without replacement (`subsampling`) and, for `compare`,
approximate randomisation, as FID does.
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np

from xgem_bench import weights
from xgem_bench.metrics.base import Metric, MetricContext, Sample
from xgem_bench.metrics.fid import FrechetDistance, _read_part


class FeatureSetMetric(FrechetDistance):
    """A metric of the generated and reference feature matrices of one image view (see the module docstring)."""

    primary: ClassVar[str]
    #: values that `resampleable` can recompute (the others are counts or spreads)
    resampleable_values: ClassVar[tuple[str, ...]] = ()

    def __init__(self, context: MetricContext, **settings: Any):
        Metric.__init__(self, context, **settings)  # not FrechetDistance's: no O(d²) sums are kept
        from xgem_bench.metrics.backbone_factory import backbone_settings, make_backbone
        backbone_keys = set(backbone_settings(self.backbone_name))
        self.backbone = self.shared_backbone(make_backbone(
            self.backbone_name, device=context.device, **{k: v for k, v in self.settings.items() if k in backbone_keys}))
        self.settings.update(self.backbone.settings)  # resolved values (e.g. which Inception file) go on record
        self.add_state("generated_ids", [], "extend")
        self.add_state("feature_parts", [], "extend")
        self.add_state("feature_blocks", [], "extend")  # in memory when there is no artifact folder
        self._part: str | None = None
        self._artifact_written = False
        self._reference = None

    @classmethod
    def set_settings(cls) -> dict[str, Any]:
        """The metric's own settings (beside the backbone's)."""
        return {}

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        from xgem_bench.metrics.backbone_factory import backbone_settings
        return {**backbone_settings(cls.backbone_name), **cls.set_settings()}

    @classmethod
    def unavailable_reason(cls, settings: dict[str, Any] | None = None) -> str | None:
        from xgem_bench.metrics.backbone_factory import backbone_settings, make_backbone
        keys = set(backbone_settings(cls.backbone_name))
        try:
            backbone = make_backbone(cls.backbone_name, **{k: v for k, v in (settings or {}).items() if k in keys})
        except ValueError as error:
            return str(error)
        return weights.missing_reason(backbone.weight)

    @staticmethod
    def values_of(generated: np.ndarray, reference: np.ndarray, settings: dict[str, Any]) -> dict[str, float]:
        raise NotImplementedError

    # ---- scoring ------------------------------------------------------------------------------------------------
    def update(self, samples: Sequence[Sample]) -> None:
        features = self.generated_features(self.backbone, samples, self.context.modality)
        self.generated_ids.extend(s.study.study_id for s in samples)
        self._keep_features(features)

    def _keep_features(self, features: np.ndarray) -> None:
        if self.context.artifact_dir is None:
            self.feature_blocks.append(np.asarray(features, np.float32))
        else:
            super()._keep_features(features)

    def generated_feature_rows(self) -> np.ndarray:
        dim = self.backbone.dim
        blocks = self.feature_blocks + [_read_part(p, dim) for p in self.feature_parts]
        return np.concatenate(blocks) if blocks else np.zeros((0, dim), np.float32)

    def compute(self) -> dict[str, float]:
        if self._reference is None:  # used on its own: the context's reference set
            self.prepare_reference(self.context.reference_set())
        _, reference_ids, reference_path = self._reference
        generated = self.generated_feature_rows()
        reference = np.load(reference_path, mmap_mode="r")
        values = self.values_of(generated.astype(np.float64), np.asarray(reference, np.float64), self.settings)
        del generated
        if self.context.artifact_dir is not None and not self._artifact_written:
            self._write_artifact(reference_ids, reference_path)
        return {**values, "n_generated": float(len(self.generated_ids)), "n_reference": float(len(reference_ids)),
                "dim": float(self.backbone.dim)}

    # ---- recomputation over studies -----------------------------------------------------------------------------
    @classmethod
    def resampleable(cls, stored, key: str):
        """Per-study rows of a value from the features artefact, and the statistic (`values_of`) that rebuilds it.

        As for FID: when the reference set is the real images of the same studies, each row holds a study's generated
        and real features and a resample redraws both; otherwise the reference features stay fixed."""
        from xgem_bench.stats import Resampleable, StatsUnavailable
        if key not in cls.resampleable_values:
            raise StatsUnavailable(f"{stored.metric} {key!r} is not a resampleable value "
                                   f"(those are {', '.join(cls.resampleable_values)})")
        path = stored.artifact()
        if not path.exists():
            raise StatsUnavailable(f"no cached features at {path} (the run kept no feature artefacts)")
        with np.load(path) as archive:
            ids, generated = archive["generated_ids"].astype(str), archive["generated"].astype(np.float64)
            reference_ids, reference = archive["reference_ids"].astype(str), archive["reference"].astype(np.float64)
        settings, dim = stored.settings, generated.shape[1]
        options = {"interval_method": "subsampling", "rel_tol": 1e-4, "abs_tol": 1e-9}
        if sorted(ids.tolist()) == sorted(reference_ids.tolist()):
            order = {sid: i for i, sid in enumerate(reference_ids.tolist())}
            rows = np.concatenate([generated, reference[[order[s] for s in ids]]], axis=1)
            return Resampleable(ids, rows, lambda r: cls.values_of(r[:, :dim], r[:, dim:], settings)[key],
                                f"{stored.metric} of resampled studies (generated and real features redrawn "
                                "together)", **options)
        return Resampleable(ids, generated, lambda r: cls.values_of(r, reference, settings)[key],
                            f"{stored.metric} of resampled generated features against the fixed reference set",
                            **options)


def pairwise_sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of a and b (float64, clipped at 0 against cancellation)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.maximum(d, 0.0)
