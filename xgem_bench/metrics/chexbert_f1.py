"""CheXbert-F1: label F1 of generated reports against the real report, both labelled by the CheXbert network.

As f1chexbert 0.0.2 (`F1CheXbert.forward`) and RadEval (`f1chexbert_{5,all}_{micro,macro,weighted}_f1`) compute it:
every report gets 14 CheXbert labels, the reference report's labels are the truth, and sklearn's multilabel
`classification_report` F1 is taken over the 14 observations and over the 5 of CheXpert's competition (Cardiomegaly,
Edema, Consolidation, Atelectasis, Pleural Effusion): micro, macro and weighted (by reference support), a class
without positives on either side scoring 0 (sklearn's default zero_division).

Settings (named, recorded in every result):

* ``uncertain`` - ``positive`` (default: f1chexbert's and RadEval's ``rrg`` mode, positive and uncertain both count
  as 1), ``negative`` (uncertain counts as 0) or ``ignore`` (a (study, observation) pair with an uncertain label on
  either side is left out).
* ``blank`` - a blank reference label: ``negative`` (default; rrg) or ``ignore`` (the pair is left out).

Per study the labels of both sides are recorded as ``gen/<observation>`` and ``ref/<observation>`` (1 / 0 / -1 /
NaN = blank, CheXbert's `label.py` convention, f1chexbert's ``classification`` mode), so a bootstrap recomputes every
value from them (`f1_values`). The counting is the rule-based chexpert-f1's (`chexpert_f1.f1_scores`), which the
tests check against sklearn's `classification_report` on the same labels.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from xgem_bench.data.study import CHEXPERT_LABELS
from xgem_bench.metrics.base import Metric, MetricUnavailable, Sample
from xgem_bench.metrics.chexpert_f1 import f1_scores

FIVE = ("Cardiomegaly", "Edema", "Consolidation", "Atelectasis", "Pleural Effusion")
SETTINGS = {"uncertain": ("positive", "negative", "ignore"), "blank": ("negative", "ignore")}
_AVERAGES = ("f1_micro", "f1_macro", "f1_weighted")


def f1_values(gen: np.ndarray, ref: np.ndarray, uncertain: str = "positive", blank: str = "negative"
              ) -> dict[str, float]:
    """Every value of the metric from (n, 14) label arrays in CHEXPERT_LABELS order: averages over the 14
    (``f1_micro`` ...), over the 5 (``f1_micro_5`` ...), and per-observation F1 and support."""
    values = f1_scores(gen, ref, uncertain, blank, "all")
    five = f1_scores(gen, ref, uncertain, blank, FIVE)
    return {**values, **{f"{key}_5": five[key] for key in _AVERAGES}}


class CheXbertF1(Metric):
    name = "chexbert-f1"
    kind = "text"
    primary = "f1_micro_5"
    weights = ("chexbert", "bert-base-uncased-config")

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        return {"uncertain": "positive", "blank": "negative"}

    @classmethod
    def allowed_settings(cls) -> dict[str, tuple]:
        return dict(SETTINGS)

    def __init__(self, context, **settings: Any):
        super().__init__(context, **settings)
        for key, allowed in SETTINGS.items():
            if self.settings[key] not in allowed:
                raise ValueError(f"{self.name} setting {key}={self.settings[key]!r}; choose one of {allowed}")
        reason = self.unavailable_reason()
        if reason:
            raise MetricUnavailable(reason)
        from xgem_bench import weights
        self.settings["chexbert_sha256"] = weights.checksum("chexbert")
        self.add_state("gen_labels", [], "extend")
        self.add_state("ref_labels", [], "extend")

    def update(self, samples: Sequence[Sample]) -> None:
        if not samples:
            return
        gen = chexbert_labels([self.generated_of(s) for s in samples], self.context)
        ref = chexbert_labels([self.reference_of(s) for s in samples], self.context)
        for sample, g, r in zip(samples, gen, ref):
            self.gen_labels.append(g)
            self.ref_labels.append(r)
            self.record(sample.study.study_id, **{f"gen/{name}": float(v) for name, v in zip(CHEXPERT_LABELS, g)},
                        **{f"ref/{name}": float(v) for name, v in zip(CHEXPERT_LABELS, r)})

    @classmethod
    def resampleable(cls, stored, key: str):
        """CheXbert label F1 (14 and 5 observations) of resampled studies from the per-study labels."""
        from xgem_bench.stats import StatsUnavailable
        settings = stored.settings
        columns = [f"{side}/{name}" for side in ("gen", "ref") for name in CHEXPERT_LABELS]
        if any(c not in stored.per_sample() for c in columns):
            raise StatsUnavailable("chexbert-f1 recorded no per-study labels")
        k = len(CHEXPERT_LABELS)
        if key not in f1_values(np.zeros((1, k)), np.zeros((1, k))):
            raise StatsUnavailable(f"chexbert-f1 {key!r} is a count, not a resampleable value")

        def statistic(rows: np.ndarray) -> float:
            return f1_values(rows[:, :k], rows[:, k:], settings["uncertain"], settings["blank"])[key]

        return stored.rows(columns, statistic, "CheXbert-label F1 from per-study generated and reference labels")

    def compute(self) -> dict[str, float]:
        n = len(self.gen_labels)
        empty = np.zeros((0, len(CHEXPERT_LABELS)))
        gen = np.stack(self.gen_labels) if n else empty
        ref = np.stack(self.ref_labels) if n else empty
        return {**f1_values(gen, ref, self.settings["uncertain"], self.settings["blank"]), "n": float(n)}


def chexbert_labels(reports: Sequence[str | None], context) -> np.ndarray:
    """(n, 14) CheXbert labels in CHEXPERT_LABELS order (1 / 0 / -1 / NaN)."""
    from xgem_bench.metrics import chexbert_model
    classes, _ = chexbert_model.run(list(reports), context.device, context.batch_size)
    by_name = chexbert_model.labels_of(classes)
    return np.stack([by_name[name] for name in CHEXPERT_LABELS], axis=1) if len(reports) else \
        np.zeros((0, len(CHEXPERT_LABELS)))
