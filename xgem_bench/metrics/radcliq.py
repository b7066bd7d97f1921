"""RadCliQ-v1 (Yu et al. 2023, CXR-Report-Metric): a published linear composite of four report metrics, and its
inverse as the ReXrank leaderboard shows it.

Per study: RadCliQ-v1 = sum_i c_i * (x_i - mu_i) / sigma_i + b over x = [RadGraph combined, BERTScore, SembScore,
BLEU-2]. The constants are those of CXR-Report-Metric's `CXRMetric/radcliq-v1.pkl` (a StandardScaler fitted on 160
samples and a 5-vector of coefficients; RadEval's port `RadCliQv1/radcliq.py` holds the same to 9 digits), transcribed
in `shared/docs/research/report-metrics-rexrank.md` §5. BLEU's coefficient is 4e-12, so BLEU has no effect. Lower is
better; the metric reports the mean (``radcliq_v1``) and ``inv_radcliq_v1`` = 1 / mean, the leaderboard's
"1/RadCliQ-v1" (higher is better; the mean can be <= 0 for near-perfect reports, which flips its sign: counted as
``n_nonpositive`` counts the studies at or below 0).

The inputs are computed by this suite's own metrics with ReXrank's settings (the `rexrank` preset's): radgraph-f1
(RadGraph v1, ``combined``, raw case), bertscore (distilroberta-base L5, rescaled, no idf), sembscore, and bleu's
BLEU-2 (CXR-Report-Metric tokens, NLTK method1 sentence BLEU: fast_bleu's). RadEval's fixed port (`0e5d9c6`)
uses BERTScore with idf over the references instead, which is CRM's `use_idf=True`, not ReXrank's setting.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from xgem_bench.metrics.base import Metric, MetricUnavailable, Sample

INPUTS = ("radgraph_combined", "bertscore", "sembscore", "bleu2")
MEAN = np.array([0.5379231241355762, 0.6175725628125001, 0.7647942121140658, 0.44738335396242174])
SCALE = np.array([0.3028258411486429, 0.22430938459304575, 0.2539439110169773, 0.2989271671041838])
COEFFICIENTS = np.array([-0.37708368261038905, -0.37030009974480316, -0.25261621789593225, 4.315048405024756e-12])
INTERCEPT = 2.466552561323256e-10

#: the input metrics and the settings the composite was fitted with (ReXrank's / CRM's), and the value each gives
REXRANK_BLEU = {"convention": "nltk-mean", "smoothing": "method1", "max_n": 4, "lowercase": True,
                "punctuation": "keep", "tokenizer": "cxr-report-metric"}
INPUT_METRICS = {
    "radgraph_combined": ("radgraph-f1", {"model_type": "radgraph", "reward_level": "combined", "lowercase": False},
                          "combined"),
    "bertscore": ("bertscore", {"model": "distilroberta-base", "num_layers": 5, "rescale_with_baseline": True,
                                "idf": False}, "bertscore"),
    "sembscore": ("sembscore", {}, "sembscore"),
    "bleu2": ("bleu", REXRANK_BLEU, "bleu2"),
}


def radcliq_v1(inputs: np.ndarray) -> np.ndarray:
    """RadCliQ-v1 of rows [RadGraph combined, BERTScore, SembScore, BLEU-2]."""
    return ((np.asarray(inputs, np.float64) - MEAN) / SCALE) @ COEFFICIENTS + INTERCEPT


def values_from(per_study: np.ndarray) -> dict[str, float]:
    """The aggregate values from per-study RadCliQ-v1 scores (also the bootstrap statistic)."""
    mean = float(np.mean(per_study)) if len(per_study) else float("nan")
    return {"radcliq_v1": mean, "inv_radcliq_v1": 1.0 / mean if mean else float("nan")}


class RadCliQv1(Metric):
    name = "radcliq-v1"
    kind = "text"
    primary = "inv_radcliq_v1"
    higher_is_better = True

    @classmethod
    def _inputs(cls):
        from xgem_bench.metrics import get_metric_class
        return {key: (get_metric_class(name), settings, value) for key, (name, settings, value)
                in INPUT_METRICS.items()}

    @classmethod
    def unavailable_reason(cls, settings=None):
        reasons = [metric.unavailable_reason({**metric.default_settings(), **chosen})
                   for metric, chosen, _ in cls._inputs().values()]
        return "; ".join(dict.fromkeys(r for r in reasons if r)) or None

    def __init__(self, context, **settings):
        super().__init__(context, **settings)
        reason = self.unavailable_reason()
        if reason:
            raise MetricUnavailable(reason)
        self._metrics = {key: (metric(context, **chosen), value) for key, (metric, chosen, value)
                         in self._inputs().items()}
        for key, (metric, _) in self._metrics.items():
            self.settings[f"input:{key}"] = metric.signature
        self.add_state("scores", [], "extend")

    def update(self, samples: Sequence[Sample]) -> None:
        if not samples:
            return
        columns = []
        for metric, value in self._metrics.values():
            metric.update(samples)
            rows = metric.per_sample()
            columns.append([rows[s.study.study_id][value] for s in samples])
            metric.per_sample_rows.clear()  # only this batch's rows are needed; the composite keeps its own
        inputs = np.array(columns, dtype=np.float64).T
        for sample, row, score in zip(samples, inputs, radcliq_v1(inputs)):
            self.scores.append(float(score))
            self.record(sample.study.study_id, radcliq_v1=float(score), **dict(zip(INPUTS, map(float, row))))

    @classmethod
    def resampleable(cls, stored, key: str):
        """The mean, or 1/mean (the leaderboard's value), of resampled per-study RadCliQ-v1 scores."""
        if key not in ("radcliq_v1", "inv_radcliq_v1"):
            return super().resampleable(stored, key)
        return stored.rows(["radcliq_v1"], lambda rows: values_from(rows[:, 0])[key],
                           f"{key} from per-study RadCliQ-v1")

    def compute(self) -> dict[str, float]:
        scores = np.array(self.scores, dtype=np.float64)
        return {**values_from(scores), "n": len(scores), "n_nonpositive": int((scores <= 0).sum())}
