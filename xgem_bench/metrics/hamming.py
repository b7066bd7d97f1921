"""Clinical coherence of a joint output (paper Figure 5): Hamming distance between the findings of the generated
frontal X-ray and those of the report generated with it for the same study.

Image labels: the torchxrayvision DenseNet (`variant`, default `all`, as in Table 3) on the generated frontal image,
positive at its operating point (`threshold=op`: `op_threshs` then 0.5, as xrv-classification scores F1) or at 0.5 on
the raw sigmoid (`threshold=0.5`). Report labels: the CheXpert labeler on the generated report; a mention is positive
(1) or negative (0), a finding not mentioned (blank) is negative, an uncertain mention (-1) follows `uncertain`
(`positive` default: the report raises the finding, as the U-Ones convention reads it; or `negative`). The labeler's
version and engine are recorded as the settings `labeler` and `labeler_engine`.

Common label set (`COMMON_LABELS`): the ten pathologies the paper scores with both tools (Tables 3 and 5), mapped by
name: CheXpert observation -> XRV output (`XRV_NAME`; only "Pleural Effusion" is "Effusion" in torchxrayvision).
"No Finding", "Pleural Other" and "Support Devices" are left out (the XRV models have no output for them), and so is
"Fracture" (an XRV output, but neither Table 3 nor Table 5 scores it).

Per study: `hamming` = number of the ten labels on which the two disagree (0..10) and `at_zero` (1 if they agree on
all). Values: their means over studies (`hamming`: the mean distance, `at_zero`: the share of studies at distance 0),
so bootstrap intervals resample them directly, and the histogram `count/<d>` for d = 0..10 (Figure 5's curve).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from xgem_bench.data.study import CHEXPERT_LABELS, PAPER_PATHOLOGIES
from xgem_bench.metrics.base import Metric, MetricContext, Sample
from xgem_bench.tasks import Modality

COMMON_LABELS = PAPER_PATHOLOGIES
UNCERTAIN_POLICIES = ("positive", "negative")


def hamming_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, the number of positions where two (n, k) binary label arrays differ."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"label arrays must have the same (n, k) shape, got {a.shape} and {b.shape}")
    if not (np.isin(a, (0, 1)).all() and np.isin(b, (0, 1)).all()):
        raise ValueError("Hamming distance needs binary (0/1) labels")
    return (a != b).sum(axis=1)


def report_labels_binary(raw: np.ndarray, uncertain: str = "positive") -> np.ndarray:
    """CheXpert-labeler output (n, 14) in CHEXPERT_LABELS order, 1/0/-1/NaN -> (n, 10) binary over COMMON_LABELS."""
    if uncertain not in UNCERTAIN_POLICIES:
        raise ValueError(f"uncertain must be one of {UNCERTAIN_POLICIES}, got {uncertain!r}")
    columns = np.asarray(raw, np.float64)[:, [CHEXPERT_LABELS.index(label) for label in COMMON_LABELS]]
    out = (columns == 1).astype(int)
    if uncertain == "positive":
        out[columns == -1] = 1
    return out


def image_labels_binary(probabilities: np.ndarray) -> np.ndarray:
    """XRV outputs (n, 10) over COMMON_LABELS, already on the chosen scale -> positive at 0.5."""
    return (np.asarray(probabilities) >= 0.5).astype(int)


def histogram(distances: np.ndarray, n_labels: int = len(COMMON_LABELS)) -> np.ndarray:
    return np.bincount(np.asarray(distances, int), minlength=n_labels + 1)


class HammingCoherence(Metric):
    name = "hamming"
    kind = "joint"
    higher_is_better = False
    primary = "hamming"
    #: joint tasks whose outputs include both of these (L->F+T in the paper)
    outputs_needed = (Modality.FRONTAL, Modality.REPORT)

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        from xgem_bench.metrics.backbones import XRVBackbone
        from xgem_bench.labelers import LABELER_SETTINGS
        return {**XRVBackbone.default_settings(), "threshold": "op", "uncertain": "positive", "labels": "paper-10",
                **LABELER_SETTINGS}

    @classmethod
    def allowed_settings(cls) -> dict[str, tuple]:
        from xgem_bench.metrics.backbones import XRVBackbone
        # threshold: `op` (op_threshs, then 0.5) or `0.5` (raw sigmoid); labels: the ten pathologies of Tables 3, 5
        return {**XRVBackbone.allowed_settings(), "threshold": ("op", "0.5"), "uncertain": UNCERTAIN_POLICIES,
                "labels": ("paper-10",)}

    @classmethod
    def unavailable_reason(cls, settings: dict[str, Any] | None = None) -> str | None:
        from xgem_bench.metrics.xrv_classification import XRVClassification
        return XRVClassification.unavailable_reason(settings)  # the same XRV weights

    def __init__(self, context: MetricContext, **settings: Any):
        super().__init__(context, **settings)
        from xgem_bench.metrics.backbone_factory import xrv_backbone
        from xgem_bench.metrics.backbones import XRVBackbone
        from xgem_bench.labelers import check_labeler_settings
        check_labeler_settings(self.settings, self.name)
        missing = [m.value for m in self.outputs_needed if m not in context.task.outputs]
        if missing:
            raise ValueError(f"hamming compares a generated frontal X-ray with its generated report; task "
                             f"{context.task} does not output {'+'.join(missing)}")
        self.backbone = self.shared_backbone(xrv_backbone(
            device=context.device, **{k: self.settings[k] for k in XRVBackbone.default_settings()}))
        self.add_state("distances", [], "extend")

    def update(self, samples: Sequence[Sample]) -> None:
        from xgem_bench.labelers import label_reports
        from xgem_bench.metrics.xrv_classification import xrv_output_indices
        index = xrv_output_indices(self.backbone.pathologies, COMMON_LABELS)
        size = max(1, int(self.context.batch_size))
        for start in range(0, len(samples), size):
            batch = samples[start:start + size]
            features = self.generated_features(self.backbone, batch, Modality.FRONTAL)
            probabilities = self.backbone.classify_features(features,
                                                            op_norm=self.settings["threshold"] == "op")[:, index]
            reports = label_reports([s.generated[Modality.REPORT] or "" for s in batch])
            distances = hamming_distances(image_labels_binary(probabilities),
                                          report_labels_binary(reports, self.settings["uncertain"]))
            for sample, d in zip(batch, distances):
                self.record(sample.study.study_id, hamming=float(d), at_zero=float(d == 0))
            self.distances.extend(int(d) for d in distances)

    def compute(self) -> dict[str, float]:
        if not self.distances:
            raise ValueError("hamming: no study was scored")
        distances = np.array(self.distances)
        counts = histogram(distances)
        return {"hamming": float(distances.mean()), "at_zero": float(np.mean(distances == 0)),
                **{f"count/{d}": float(c) for d, c in enumerate(counts)}, "n": float(len(distances))}
