"""CIDEr-D of generated reports against the real report, as pycocoevalcap's `Cider` computes it.

pycocoevalcap's `Cider` (the coco-caption scorer R2Gen and RadEval report as "CIDEr") is the CIDEr-D variant:
for n = 1..`max_n`, each text becomes a TF-IDF vector of its n-grams, IDF = log(N) - log(max(1, df)) with df the
number of studies whose reference contains the n-gram and N the number of studies scored; the hypothesis weights are
clipped at the reference weights, the cosine is multiplied by a Gaussian length penalty exp(-δ²/2σ²) (δ: the
difference in length, counted as pycocoevalcap counts it: the number of bigrams), the orders are averaged and the
result is multiplied by 10. The metric's value is the mean over reports.

Consequences worth knowing: the IDF comes from the *scored set's own references*, so a report's value depends on
the other studies of the set (one study alone scores 0: every n-gram has IDF log 1 - log 1 = 0). Per-study values,
bootstrap intervals and strata therefore hold the IDF of the whole scored set fixed (the mean of per-study values
over a subset); re-scoring the subset alone would change the IDF. Tokens come from the shared text normalisation
(default: lower-cased, punctuation removed, like the COCO PTB tokenizer's output) and are joined by spaces.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

from xgem_bench.metrics.base import Metric, Sample
from xgem_bench.text import TextNormalization


def ngram_counts(tokens: Sequence[str], max_n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for n in range(1, max_n + 1) for i in range(len(tokens) - n + 1))


def _tfidf(counts: Counter, idf_of, max_n: int) -> tuple[list[dict], list[float], int]:
    vectors: list[dict] = [{} for _ in range(max_n)]
    norms = [0.0] * max_n
    for gram, tf in counts.items():
        weight = tf * idf_of(gram)
        vectors[len(gram) - 1][gram] = weight
        norms[len(gram) - 1] += weight * weight
    length = sum(tf for gram, tf in counts.items() if len(gram) == 2)  # pycocoevalcap's length: bigram count
    return vectors, [math.sqrt(v) for v in norms], length


def cider_scores(hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[str]], max_n: int = 4,
                 sigma: float = 6.0) -> list[float]:
    """CIDEr-D of each tokenised hypothesis against its one tokenised reference, IDF from all the references."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    hyp_counts = [ngram_counts(h, max_n) for h in hypotheses]
    ref_counts = [ngram_counts(r, max_n) for r in references]
    document_frequency = Counter(gram for counts in ref_counts for gram in counts)
    log_n = math.log(len(references)) if references else 0.0

    def idf_of(gram) -> float:
        return log_n - math.log(max(1.0, document_frequency.get(gram, 0)))

    scores = []
    for hyp, ref in zip(hyp_counts, ref_counts):
        vec_h, norm_h, len_h = _tfidf(hyp, idf_of, max_n)
        vec_r, norm_r, len_r = _tfidf(ref, idf_of, max_n)
        penalty = math.exp(-((len_h - len_r) ** 2) / (2 * sigma ** 2))
        total = 0.0
        for n in range(max_n):
            dot = sum(min(weight, vec_r[n].get(gram, 0.0)) * vec_r[n].get(gram, 0.0)
                      for gram, weight in vec_h[n].items())
            if norm_h[n] and norm_r[n]:
                dot /= norm_h[n] * norm_r[n]
            total += dot * penalty
        scores.append(10.0 * total / max_n)
    return scores


class CIDEr(Metric):
    name = "cider"
    kind = "text"
    primary = "cider"

    @classmethod
    def default_settings(cls):
        return {"variant": "cider-d", "max_n": 4, "sigma": 6.0, "idf": "scored-references",
                **TextNormalization(lowercase=True, punctuation="strip").settings()}

    @classmethod
    def allowed_settings(cls):
        return {"variant": ("cider-d",), "idf": ("scored-references",)}

    def __init__(self, context, **settings):
        super().__init__(context, **settings)
        if not isinstance(self.settings["max_n"], int) or self.settings["max_n"] < 1 or self.settings["sigma"] <= 0:
            raise ValueError("cider needs an integer max_n >= 1 and sigma > 0")
        self.normalization = TextNormalization.from_settings(self.settings)
        # the IDF needs every reference first: texts are kept (as tokens) and scored in compute()
        self.add_state("pairs", [], "extend")

    def update(self, samples: Sequence[Sample]) -> None:
        self.pairs.extend((sample.study.study_id, self.normalization.tokens(self.generated_of(sample)),
                           self.normalization.tokens(self.reference_of(sample))) for sample in samples)

    def compute(self) -> dict[str, float]:
        scores = cider_scores([h for _, h, _ in self.pairs], [r for _, _, r in self.pairs], self.settings["max_n"],
                              self.settings["sigma"])
        self.per_sample_rows = [(study_id, {"cider": score}) for (study_id, _, _), score in zip(self.pairs, scores)]
        return {"cider": sum(scores) / len(scores) if scores else float("nan"), "n": len(scores)}
