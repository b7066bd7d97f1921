"""XRV classification of generated X-rays against the source study's labels (paper Tables 1 and 3).

The torchxrayvision DenseNet-121 (`variant`, default `all`, the paper's "XRV-DenseNet") scores each generated image.
Its outputs are taken as torchxrayvision's `forward` gives them: sigmoid, then `op_norm` with the model's per-label
operating thresholds (`op_threshs`), so **0.5 is the operating point** used for F1 (`threshold=op`); `threshold=0.5`
uses the raw sigmoid at 0.5 instead. Per-class AUC (and so macro and weighted AUC) does not depend on this choice:
`op_norm` is increasing within a class. Micro-AUC does: it ranks the pooled scores of all classes against each other,
and `op_norm` moves each class by its own threshold (monotone within a class, not across classes).

Labels: the ten pathologies of the paper, mapped by name to the XRV outputs (`XRV_NAME`; only "Pleural Effusion" is
called "Effusion" in torchxrayvision), looked up in `model.pathologies`, never by position. Ground truth follows the
`label_policy`: `healthy` (default) is torchxrayvision's `MIMIC_Dataset`: a study with No Finding = 1 is negative (0)
for every pathology, whatever its own columns say; then the other values as below. `explicit` skips that rule (only
stated labels count). A study counts for a class only where its ground-truth label is defined: positive (1) and
negative (0) always; uncertain (-1) per the `uncertain` policy (`exclude` default, as torchxrayvision's -1 -> NaN,
`positive`, `negative`); blank (missing) per `blank` (`exclude` default, as torchxrayvision, `negative`). The paper's
Table 1 counts (negatives 9,123-9,657 in every class, including classes reports rarely negate) fit `healthy` only.

Values: per class `auc/<label>`, `f1/<label>` and the Table 1 counts `n/…`, `n_pos/…`, `n_neg/…` (defined labels,
after the policies) and `n_uncertain/…`, `n_blank/…` (raw label counts, before them); averages `auc_micro|macro|weighted`,
`f1_micro|macro|weighted` (sklearn `roc_auc_score` / `f1_score`). Micro pools every defined (study, class) entry;
macro is the plain mean and weighted the mean weighted by positives, both over the classes with at least one positive
and one negative (a class without both has no AUC and is left out of every average, and its values are NaN).
Per-study outputs `p/<label>` are kept for bootstrap. XRV models are trained on frontal views: lateral outputs are
scored only with `views=F,L`.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from xgem_bench import weights
from xgem_bench.data.study import PAPER_PATHOLOGIES
from xgem_bench.metrics.backbone_factory import xrv_backbone
from xgem_bench.metrics.backbones import XRV_NAME, XRVBackbone
from xgem_bench.metrics.base import Metric, MetricContext, MetricUnavailable, Sample

LABEL_POLICIES = {"label_policy": ("healthy", "explicit"), "uncertain": ("exclude", "positive", "negative"),
                  "blank": ("exclude", "negative")}


def xrv_output_indices(pathologies: Sequence[str], labels: Sequence[str] = PAPER_PATHOLOGIES) -> list[int]:
    """Positions of the XRV outputs for CheXpert `labels`, looked up by name in the model's `pathologies`."""
    names = list(pathologies)
    missing = [label for label in labels if XRV_NAME.get(label) not in names]
    if missing:
        raise ValueError(f"the XRV model has no output for {missing} (its outputs: {[n for n in names if n]})")
    return [names.index(XRV_NAME[label]) for label in labels]


def ground_truth(labels: dict[str, float], uncertain: str = "exclude", blank: str = "exclude",
                 label_policy: str = "healthy") -> np.ndarray:
    """The 10 paper labels of a study as 1 / 0 / NaN (not defined) under the label policies."""
    if label_policy == "healthy" and labels.get("No Finding") == 1:
        return np.zeros(len(PAPER_PATHOLOGIES))
    out = np.full(len(PAPER_PATHOLOGIES), np.nan)
    for i, label in enumerate(PAPER_PATHOLOGIES):
        value = labels.get(label)
        if value is None or (isinstance(value, float) and np.isnan(value)):
            out[i] = 0.0 if blank == "negative" else np.nan
        elif value == -1:
            out[i] = {"positive": 1.0, "negative": 0.0, "exclude": np.nan}[uncertain]
        elif value in (0, 1):
            out[i] = float(value)
        else:
            raise ValueError(f"label {label!r} has value {value!r}; expected 1, 0, -1 or blank")
    return out


def classification_scores(y: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """AUC/F1 per class and micro/macro/weighted from (n, k) labels (1/0/NaN) and scores; see the module doc."""
    from sklearn.metrics import f1_score, roc_auc_score

    values: dict[str, float] = {}
    aucs, f1s, supports = [], [], []
    for k, label in enumerate(PAPER_PATHOLOGIES):
        defined = ~np.isnan(y[:, k])
        truth, score = y[defined, k].astype(int), scores[defined, k]
        n_pos = int(truth.sum())
        auc = f1 = float("nan")
        if 0 < n_pos < len(truth):
            auc = float(roc_auc_score(truth, score))
            f1 = float(f1_score(truth, score >= threshold, zero_division=0.0))
            aucs.append(auc)
            f1s.append(f1)
            supports.append(n_pos)
        values[f"auc/{label}"], values[f"f1/{label}"] = auc, f1
        values[f"n/{label}"], values[f"n_pos/{label}"] = float(len(truth)), float(n_pos)
        values[f"n_neg/{label}"] = float(len(truth) - n_pos)
    scored = [i for i, label in enumerate(PAPER_PATHOLOGIES) if not np.isnan(values[f"auc/{label}"])]
    pooled = ~np.isnan(y[:, scored])
    truth, score = y[:, scored][pooled].astype(int), scores[:, scored][pooled]
    nan = float("nan")
    values["auc_micro"] = float(roc_auc_score(truth, score)) if scored else nan
    values["f1_micro"] = float(f1_score(truth, score >= threshold, zero_division=0.0)) if scored else nan
    values["auc_macro"] = float(np.mean(aucs)) if aucs else nan
    values["f1_macro"] = float(np.mean(f1s)) if f1s else nan
    values["auc_weighted"] = float(np.average(aucs, weights=supports)) if aucs else nan
    values["f1_weighted"] = float(np.average(f1s, weights=supports)) if f1s else nan
    return values


class XRVClassification(Metric):
    name = "xrv-classification"
    kind = "image"
    higher_is_better = True
    primary = "auc_macro"
    weights = ("xrv-densenet121-res224-all", "xrv-densenet121-res224-mimic_ch", "xrv-densenet121-res224-mimic_nb")

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        return {**XRVBackbone.default_settings(), "threshold": "op", "label_policy": "healthy", "uncertain": "exclude",
                "blank": "exclude", "views": "F"}

    @classmethod
    def allowed_settings(cls) -> dict[str, tuple]:
        # threshold: `op` (op_threshs, then 0.5) or `0.5` (raw sigmoid)
        return {**XRVBackbone.allowed_settings(), **LABEL_POLICIES, "threshold": ("op", "0.5")}

    @classmethod
    def unavailable_reason(cls, settings: dict[str, Any] | None = None) -> str | None:
        variant = (settings or {}).get("variant", "all")
        return weights.missing_reason(f"xrv-densenet121-res224-{variant}")

    def __init__(self, context: MetricContext, **settings: Any):
        super().__init__(context, **settings)
        backbone_keys = XRVBackbone.default_settings()
        self.backbone = self.shared_backbone(xrv_backbone(device=context.device,
                                                          **{k: self.settings[k] for k in backbone_keys}))
        views = {v.strip().upper() for v in str(self.settings["views"]).split(",")}
        self.active = context.modality is not None and context.modality.value in views
        self.add_state("scores", [], "extend")
        self.add_state("truth", [], "extend")
        self.add_state("raw_labels", [], "extend")

    def update(self, samples: Sequence[Sample]) -> None:
        if not self.active:
            return
        index = xrv_output_indices(self.backbone.pathologies)
        size = max(1, int(self.context.batch_size))
        for start in range(0, len(samples), size):
            batch = samples[start:start + size]
            features = self.generated_features(self.backbone, batch, self.context.modality)
            probs = self.backbone.classify_features(features, op_norm=self.settings["threshold"] == "op")[:, index]
            for sample, p in zip(batch, probs):
                truth = ground_truth(sample.study.labels, self.settings["uncertain"], self.settings["blank"],
                                     self.settings["label_policy"])
                self.scores.append(p.astype(np.float64))
                self.truth.append(truth)
                self.raw_labels.append([sample.study.labels.get(label) for label in PAPER_PATHOLOGIES])
                # scores and the ground truth they are judged against, so intervals can resample studies
                self.record(sample.study.study_id, **{f"p/{label}": float(v) for label, v in zip(PAPER_PATHOLOGIES, p)},
                            **{f"y/{label}": float(v) for label, v in zip(PAPER_PATHOLOGIES, truth)})

    def compute(self) -> dict[str, float]:
        if not self.active:
            raise MetricUnavailable(f"xrv-classification scores views {self.settings['views']}, not "
                                    f"{self.context.modality.value if self.context.modality else 'joint'} "
                                    "(XRV models are trained on frontal X-rays); set views=F,L to score laterals")
        if not self.scores:
            raise ValueError("xrv-classification: no generated image was scored")
        values = classification_scores(np.array(self.truth), np.array(self.scores))
        raw = np.array(self.raw_labels, dtype=object)
        for k, label in enumerate(PAPER_PATHOLOGIES):
            column = list(raw[:, k])
            values[f"n_uncertain/{label}"] = float(sum(v == -1 for v in column if v is not None))
            values[f"n_blank/{label}"] = float(sum(v is None or (isinstance(v, float) and np.isnan(v)) for v in column))
        values["n_studies"] = float(len(self.scores))
        return values

    @classmethod
    def resampleable(cls, stored, key: str):
        """AUC/F1 of resampled studies from per-study XRV outputs `p/<label>` and ground truth `y/<label>`."""
        from xgem_bench.stats import StatsUnavailable
        columns = [f"{side}/{label}" for side in ("y", "p") for label in PAPER_PATHOLOGIES]
        missing = [c for c in columns if c not in stored.per_sample()]
        if missing:
            raise StatsUnavailable(f"xrv-classification recorded no per-study {missing[0]!r}: AUC and F1 need each "
                                   "study's ground truth and score")
        k = len(PAPER_PATHOLOGIES)

        def statistic(rows: np.ndarray) -> float:
            return classification_scores(rows[:, :k], rows[:, k:])[key]

        return stored.rows(columns, statistic, "XRV AUC/F1 from per-study scores and labels")
