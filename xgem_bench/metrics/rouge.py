"""ROUGE-1, ROUGE-2 and ROUGE-L of generated reports against the real report, as Google's `rouge-score` computes them.

Per report: the F-measure (harmonic mean of precision and recall, beta 1) of clipped n-gram overlap (ROUGE-N) and of
the longest common subsequence (ROUGE-L); the metric's value is the mean over reports (what `rouge-score`'s
aggregators average). Tokens follow `rouge_score.tokenize` exactly (setting ``tokenizer="rouge-score"``): lower-case,
every run of characters other than ASCII a-z and 0-9 is a separator (so accented letters split words), and with
``use_stemmer`` the NLTK Porter stemmer is applied to tokens longer than 3 characters. An empty hypothesis or
reference scores 0. rougeLsum (sentence-split summaries) is not computed: impressions are scored as one sequence.
"""
from __future__ import annotations

import re
from collections import Counter
from functools import cached_property
from typing import Sequence

import numpy as np

from xgem_bench.metrics.base import Metric, Sample

_NON_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")
ORDERS = (1, 2)


def rouge_tokens(text: str | None, stemmer=None) -> list[str]:
    """rouge-score's default tokenizer (see the module docstring)."""
    tokens = _NON_ALPHANUMERIC.sub(" ", (text or "").lower()).split()
    if stemmer is not None:
        tokens = [stemmer.stem(token) if len(token) > 3 else token for token in tokens]
    return [token for token in tokens if _NON_ALPHANUMERIC.search(token) is None and token]


def _fmeasure(overlap: int, hyp_total: int, ref_total: int) -> float:
    precision, recall = overlap / max(hyp_total, 1), overlap / max(ref_total, 1)
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def ngram_fmeasure(hypothesis: Sequence[str], reference: Sequence[str], n: int) -> float:
    hyp = Counter(zip(*(hypothesis[i:] for i in range(n))))
    ref = Counter(zip(*(reference[i:] for i in range(n))))
    return _fmeasure(sum((hyp & ref).values()), sum(hyp.values()), sum(ref.values()))


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence, bit-parallel (Hyyrö 2004): one big-integer step per token of b."""
    if not a or not b:
        return 0
    positions: dict[str, int] = {}
    for i, token in enumerate(a):
        positions[token] = positions.get(token, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for token in b:
        u = v & positions.get(token, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def lcs_fmeasure(hypothesis: Sequence[str], reference: Sequence[str]) -> float:
    if not hypothesis or not reference:
        return 0.0
    return _fmeasure(lcs_length(reference, hypothesis), len(hypothesis), len(reference))


class ROUGE(Metric):
    name = "rouge"
    kind = "text"
    primary = "rougeL"
    keys = (*(f"rouge{n}" for n in ORDERS), "rougeL")

    @classmethod
    def default_settings(cls):
        return {"use_stemmer": False, "tokenizer": "rouge-score"}

    @classmethod
    def allowed_settings(cls):
        return {"use_stemmer": (False, True), "tokenizer": ("rouge-score",)}

    def __init__(self, context, **settings):
        super().__init__(context, **settings)
        self.add_state("totals", np.zeros(len(self.keys)), "sum")
        self.add_state("count", 0, "sum")

    @cached_property
    def _stemmer(self):
        if not self.settings["use_stemmer"]:
            return None
        from nltk.stem import porter
        return porter.PorterStemmer()

    def scores(self, generated: str | None, reference: str | None) -> dict[str, float]:
        """F-measures of one report: rouge1, rouge2, rougeL."""
        hyp, ref = rouge_tokens(generated, self._stemmer), rouge_tokens(reference, self._stemmer)
        return {**{f"rouge{n}": ngram_fmeasure(hyp, ref, n) for n in ORDERS}, "rougeL": lcs_fmeasure(hyp, ref)}

    def update(self, samples: Sequence[Sample]) -> None:
        for sample in samples:
            values = self.scores(self.generated_of(sample), self.reference_of(sample))
            self.totals = self.totals + [values[key] for key in self.keys]
            self.count += 1
            self.record(sample.study.study_id, **values)

    def compute(self) -> dict[str, float]:
        means = self.totals / self.count if self.count else np.full(len(self.keys), np.nan)
        return {**{key: float(v) for key, v in zip(self.keys, means)}, "n": self.count}
