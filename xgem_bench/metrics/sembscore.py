"""SembScore: cosine similarity of the CheXbert [CLS] embeddings of the generated and the real report.

As CXR-Report-Metric computes it (`CheXbert/src/encode.py` + `models/bert_encoder.py`, `run_eval.py::add_semb_col`):
the embedding is the final-layer hidden state at [CLS] of the CheXbert network (768-d; no pooler, no heads), the text
handled as CheXbert handles it (`chexbert_model`); the score of a study is the cosine of its two embeddings and the
metric is the mean over studies. One of RadCliQ's four inputs and ReXrank's "SembScore" column.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from xgem_bench.metrics.base import Metric, MetricUnavailable, Sample


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity (float64)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def sembscores(generated: Sequence[str | None], references: Sequence[str | None], device: str = "cpu",
               batch_size: int = 16) -> np.ndarray:
    """Per-pair SembScore of two aligned lists of reports."""
    from xgem_bench.metrics import chexbert_model
    _, gen = chexbert_model.run(list(generated), device, batch_size)
    _, ref = chexbert_model.run(list(references), device, batch_size)
    return cosine_rows(ref, gen)


class SembScore(Metric):
    name = "sembscore"
    kind = "text"
    primary = "sembscore"
    weights = ("chexbert", "bert-base-uncased-config")

    def __init__(self, context, **settings):
        super().__init__(context, **settings)
        reason = self.unavailable_reason()
        if reason:
            raise MetricUnavailable(reason)
        from xgem_bench import weights
        self.settings["chexbert_sha256"] = weights.checksum("chexbert")
        self.add_state("total", 0.0, "sum")
        self.add_state("count", 0, "sum")

    def update(self, samples: Sequence[Sample]) -> None:
        if not samples:
            return
        values = sembscores([self.generated_of(s) for s in samples], [self.reference_of(s) for s in samples],
                            self.context.device, self.context.batch_size)
        for sample, value in zip(samples, values):
            self.total += float(value)
            self.count += 1
            self.record(sample.study.study_id, sembscore=float(value))

    def compute(self):
        return {"sembscore": self.total / self.count if self.count else float("nan"), "n": self.count}
