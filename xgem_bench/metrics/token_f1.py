"""Bag-of-words token F1 between a generated report and the real one (SQuAD-style overlap), averaged over studies.

A transparent lexical statistic: tokens are lower-cased words and numbers (punctuation dropped); the overlap counts
repeated tokens at most as often as they occur in both texts. Two empty texts score 1, one empty text scores 0.
"""
from __future__ import annotations

import re
from collections import Counter

from xgem_bench.metrics.base import PerSampleMean

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


class TokenF1(PerSampleMean):
    name = "token-f1"
    kind = "text"
    primary = "token_f1"

    def score(self, generated, reference) -> float:
        return token_f1(generated or "", reference or "")
