"""Bag-of-words token F1 between a generated report and the real one (SQuAD-style overlap), averaged over studies.

A transparent lexical statistic: tokens are lower-cased words and numbers (punctuation dropped); the overlap counts
repeated tokens at most as often as they occur in both texts. Two empty texts score 1, one empty text scores 0.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

from xgem_bench.metrics.base import Metric, Sample

_WORD = re.compile(r"[a-z0-9]+")


def token_f1(hypothesis: str, reference: str) -> float:
    hyp, ref = Counter(_WORD.findall(hypothesis.lower())), Counter(_WORD.findall(reference.lower()))
    if not hyp and not ref:
        return 1.0
    overlap = sum((hyp & ref).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / sum(hyp.values()), overlap / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


class TokenF1(Metric):
    name = "token-f1"
    kind = "text"
    primary = "token_f1"

    def __init__(self, context, **settings):
        super().__init__(context, **settings)
        self.add_state("total", 0.0, "sum")
        self.add_state("count", 0, "sum")

    def update(self, samples: Sequence[Sample]) -> None:
        for sample in samples:
            value = token_f1(self.generated_of(sample) or "", self.reference_of(sample) or "")
            self.total += value
            self.count += 1
            self.record(sample.study.study_id, token_f1=value)

    def compute(self) -> dict[str, float]:
        return {"token_f1": self.total / self.count if self.count else float("nan"), "n": self.count}
