"""BLEU-1..4 of generated reports against the real report, in the conventions the report-generation literature uses.

The scoring core works on *sufficient statistics* per hypothesis: its length, the closest reference length and, for
each order n, the clipped n-gram matches and the number of hypothesis n-grams. Corpus BLEU sums them over the set,
sentence BLEU uses one row, so the per-sample rows written to per_sample.csv let a bootstrap recompute corpus BLEU
exactly (`bleu_from_rows`). Conventions (setting ``convention``):

- ``nltk-corpus`` (default): NLTK ``corpus_bleu`` with uniform weights, the closest reference length (ties go to the
  shorter one), per-sentence denominators of at least 1, a corpus with no unigram match scoring 0, and NLTK's
  ``smoothing`` (``none`` = ``method0``: a zero precision becomes ``sys.float_info.min``, so the score is ~1e-77
  rather than exactly 0; ``method1``: 0.1 added to zero match counts). The paper's environment pinned nltk.
- ``nltk-mean``: the mean over reports of NLTK ``sentence_bleu`` (same rules on one report at a time).
- ``coco-corpus``: pycocoevalcap ``Bleu(4)`` / ``BleuScorer(option="closest")``: corpus counts with 1e-15 added to
  matches and 1e-9 to totals (never exactly 0), brevity penalty from summed closest reference lengths.
- ``coco-mean``: the mean of pycocoevalcap's per-report scores (CXRMate's convention).

Per report, ``bleu1..bleuN`` are the sentence-level scores of the chosen implementation. Empty hypotheses and empty
references are scored as the upstream implementation scores them (0 for NLTK; ~0 for COCO) and counted.
"""
from __future__ import annotations

import sys
from collections import Counter
from typing import Iterable, Mapping, Sequence

import numpy as np

from xgem_bench.metrics.base import Metric, Sample
from xgem_bench.text import TextNormalization

CONVENTIONS = ("nltk-corpus", "nltk-mean", "coco-corpus", "coco-mean")
SMOOTHING = ("none", "method1")
_COCO_TINY, _COCO_SMALL = 1e-15, 1e-9
_NLTK_EPSILON = 0.1  # SmoothingFunction().method1's default epsilon


def _ngram_counts(tokens: Sequence[str], n: int) -> Counter:
    return Counter(zip(*(tokens[i:] for i in range(n)))) if n > 1 else Counter(tokens)


def pair_stats(hypothesis: Sequence[str], references: Sequence[Sequence[str]], max_n: int = 4) -> np.ndarray:
    """[hyp_len, closest_ref_len, match_1..match_N, total_1..total_N] for one tokenised hypothesis.

    Matches are clipped by the largest count of the n-gram in any one reference; totals are the hypothesis' n-grams.
    """
    hyp_len = len(hypothesis)
    ref_lens = [len(ref) for ref in references] or [0]
    closest = min(ref_lens, key=lambda length: (abs(length - hyp_len), length))
    matches, totals = [], []
    for n in range(1, max_n + 1):
        hyp_counts = _ngram_counts(hypothesis, n)
        if len(references) == 1:
            max_ref = _ngram_counts(references[0], n)
        else:
            max_ref = Counter()
            for ref in references:
                max_ref |= _ngram_counts(ref, n)
        # only n-grams present on both sides can match; the key intersection runs in C
        matches.append(sum(min(hyp_counts[gram], max_ref[gram]) for gram in hyp_counts.keys() & max_ref.keys()))
        totals.append(max(0, hyp_len - n + 1))
    return np.array([hyp_len, closest, *matches, *totals], dtype=np.int64)


def _split(stats: np.ndarray, max_n: int):
    stats = np.atleast_2d(stats).astype(np.float64)
    return stats[:, 0], stats[:, 1], stats[:, 2:2 + max_n], stats[:, 2 + max_n:2 + 2 * max_n]


def _nltk_scores(hyp_len, ref_len, matches, totals, smoothing: str) -> np.ndarray:
    """NLTK corpus_bleu for every row of summed statistics: shape (rows, max_n), column n-1 = BLEU-n."""
    rows, max_n = matches.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        if smoothing == "method1":
            precision = np.where(matches == 0, (matches + _NLTK_EPSILON) / totals, matches / totals)
        else:
            precision = np.where(matches == 0, sys.float_info.min, matches / totals)
        log_p = np.log(precision)
        brevity = np.where(hyp_len > ref_len, 1.0, np.exp(1.0 - ref_len / hyp_len))
    brevity = np.where(hyp_len == 0, 0.0, brevity)
    scores = np.empty((rows, max_n))
    for n in range(1, max_n + 1):
        scores[:, n - 1] = brevity * np.exp(log_p[:, :n].sum(axis=1) / n)
    scores[matches[:, 0] == 0] = 0.0  # NLTK returns 0 outright when nothing matches at the unigram level
    return scores


def _coco_scores(hyp_len, ref_len, matches, totals) -> np.ndarray:
    """pycocoevalcap BleuScorer for every row: cumulative product of smoothed precisions, then a brevity factor."""
    rows, max_n = matches.shape
    ratios = (matches + _COCO_TINY) / (totals + _COCO_SMALL)
    scores = np.cumprod(ratios, axis=1) ** (1.0 / np.arange(1, max_n + 1))
    ratio = (hyp_len + _COCO_TINY) / (ref_len + _COCO_SMALL)
    with np.errstate(over="ignore", divide="ignore"):
        brevity = np.where(ratio < 1, np.exp(1.0 - 1.0 / ratio), 1.0)
    return scores * brevity[:, None]


def sentence_scores(stats: np.ndarray, convention: str = "nltk-corpus", smoothing: str = "none") -> np.ndarray:
    """Per-report BLEU-1..N (rows of `pair_stats`) under the implementation of `convention`."""
    stats = np.atleast_2d(stats)
    max_n = (stats.shape[1] - 2) // 2
    hyp_len, ref_len, matches, totals = _split(stats, max_n)
    if convention.startswith("coco"):
        return _coco_scores(hyp_len, ref_len, matches, totals)
    # NLTK's modified_precision floors each sentence's denominator at 1
    return _nltk_scores(hyp_len, ref_len, matches, np.maximum(totals, 1.0), smoothing)


def corpus_scores(stats: np.ndarray, convention: str = "nltk-corpus", smoothing: str = "none") -> np.ndarray:
    """BLEU-1..N of a whole set under `convention` (corpus statistics or the mean of sentence scores)."""
    _check(convention, smoothing)
    stats = np.atleast_2d(stats)
    if len(stats) == 0:
        return np.full((stats.shape[1] - 2) // 2, np.nan)
    if convention.endswith("-mean"):
        return sentence_scores(stats, convention, smoothing).mean(axis=0)
    max_n = (stats.shape[1] - 2) // 2
    hyp_len, ref_len, matches, totals = _split(stats, max_n)
    if convention == "coco-corpus":
        return _coco_scores(hyp_len.sum(keepdims=True), ref_len.sum(keepdims=True), matches.sum(0, keepdims=True),
                            totals.sum(0, keepdims=True))[0]
    return _nltk_scores(hyp_len.sum(keepdims=True), ref_len.sum(keepdims=True), matches.sum(0, keepdims=True),
                        np.maximum(totals, 1.0).sum(0, keepdims=True), smoothing)[0]


def _check(convention: str, smoothing: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown BLEU convention {convention!r}; choose one of {', '.join(CONVENTIONS)}")
    if smoothing not in SMOOTHING:
        raise ValueError(f"unknown BLEU smoothing {smoothing!r}; choose one of {', '.join(SMOOTHING)}")
    if convention.startswith("coco") and smoothing != "none":
        raise ValueError("the coco conventions have their own fixed smoothing (1e-15 / 1e-9); use smoothing='none'")


_STAT_KEYS = ("hyp_len", "ref_len")


def stat_keys(max_n: int) -> list[str]:
    """Names of the sufficient statistics recorded per report (in `pair_stats` order)."""
    return [*_STAT_KEYS, *(f"match{n}" for n in range(1, max_n + 1)), *(f"total{n}" for n in range(1, max_n + 1))]


def bleu_from_rows(rows: Iterable[Mapping[str, float]], convention: str = "nltk-corpus", smoothing: str = "none",
                   max_n: int = 4) -> dict[str, float]:
    """Recompute BLEU from recorded per-report rows (e.g. a bootstrap resample of per_sample.csv values)."""
    keys = stat_keys(max_n)
    stats = np.array([[row[key] for key in keys] for row in rows], dtype=np.float64).reshape(-1, len(keys))
    return {f"bleu{n}": float(v) for n, v in enumerate(corpus_scores(stats, convention, smoothing), start=1)}


def bleu(hypotheses: Sequence[str | None], references: Sequence[str | Sequence[str] | None],
         convention: str = "nltk-corpus", smoothing: str = "none", max_n: int = 4,
         normalization: TextNormalization | None = None) -> dict[str, float]:
    """BLEU-1..N of raw report texts; each reference is a string or a list of alternative reference strings."""
    _check(convention, smoothing)
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    norm = normalization or TextNormalization()
    refs = [[r] if r is None or isinstance(r, str) else list(r) for r in references]
    stats = np.array([pair_stats(norm.tokens(h), [norm.tokens(r) for r in rs], max_n)
                      for h, rs in zip(hypotheses, refs)]).reshape(-1, 2 + 2 * max_n)
    return {f"bleu{n}": float(v) for n, v in enumerate(corpus_scores(stats, convention, smoothing), start=1)}


def intra_study_rows(reports: Sequence[str | None], max_n: int, normalization: TextNormalization
                     ) -> list[np.ndarray] | None:
    """`pair_stats` of each non-empty report of one study against the study's other reports (its references), in
    order; None when fewer than two reports are non-empty."""
    tokens = [normalization.tokens(r) for r in reports if r and r.strip()]
    if len(tokens) < 2:
        return None
    return [pair_stats(hyp, tokens[:i] + tokens[i + 1:], max_n) for i, hyp in enumerate(tokens)]


def intra_study_bleu(reports_by_study: Mapping[str, Sequence[str | None]], convention: str = "nltk-corpus",
                     smoothing: str = "none", max_n: int = 4,
                     normalization: TextNormalization | None = None) -> dict[str, float]:
    """Paper Table A2: consistency of reports generated for one study from different scans (e.g. F->T and L->T).

    Each report of a study is a hypothesis whose references are the *other* reports of the same study (multi-reference
    BLEU, so a study of two reports contributes both directions); the statistics are then aggregated under
    `convention` like ordinary BLEU. Studies with fewer than two non-empty reports are skipped and counted.
    """
    _check(convention, smoothing)
    norm = normalization or TextNormalization()
    rows, skipped = [], 0
    for reports in reports_by_study.values():
        study_rows = intra_study_rows(reports, max_n, norm)
        if study_rows is None:
            skipped += 1
            continue
        rows.extend(study_rows)
    stats = np.array(rows, dtype=np.int64).reshape(-1, 2 + 2 * max_n)
    values = {f"bleu{n}": float(v) for n, v in enumerate(corpus_scores(stats, convention, smoothing), start=1)}
    return {**values, "n_studies": len(reports_by_study) - skipped, "n_reports": len(rows),
            "n_skipped_studies": skipped}


class BLEU(Metric):
    name = "bleu"
    kind = "text"
    primary = "bleu4"

    @classmethod
    def default_settings(cls):
        return {"convention": "nltk-corpus", "smoothing": "none", "max_n": 4, **TextNormalization().settings()}

    def __init__(self, context, **settings):
        super().__init__(context, **settings)
        _check(self.settings["convention"], self.settings["smoothing"])
        if not isinstance(self.settings["max_n"], int) or not 1 <= self.settings["max_n"] <= 9:
            raise ValueError(f"max_n must be an integer from 1 to 9, got {self.settings['max_n']!r}")
        self.normalization = TextNormalization.from_settings(self.settings)
        self.add_state("stats", [], "extend")
        self.add_state("n_empty_hypothesis", 0, "sum")
        self.add_state("n_empty_reference", 0, "sum")

    def update(self, samples: Sequence[Sample]) -> None:
        max_n = self.settings["max_n"]
        keys = stat_keys(max_n)
        rows = []
        for sample in samples:
            hyp = self.normalization.tokens(self.generated_of(sample))
            ref = self.normalization.tokens(self.reference_of(sample))
            self.n_empty_hypothesis += not hyp
            self.n_empty_reference += not ref
            rows.append(pair_stats(hyp, [ref], max_n))
        if not rows:
            return
        rows = np.stack(rows)
        scores = sentence_scores(rows, self.settings["convention"], self.settings["smoothing"])
        for sample, row, score in zip(samples, rows, scores):
            self.record(sample.study.study_id, **{f"bleu{n}": float(s) for n, s in enumerate(score, start=1)},
                        **{key: int(v) for key, v in zip(keys, row)})
        self.stats.extend(rows.tolist())

    def compute(self) -> dict[str, float]:
        max_n = self.settings["max_n"]
        stats = np.array(self.stats, dtype=np.int64).reshape(-1, 2 + 2 * max_n)
        scores = corpus_scores(stats, self.settings["convention"], self.settings["smoothing"])
        return {**{f"bleu{n}": float(v) for n, v in enumerate(scores, start=1)}, "n": len(stats),
                "n_empty_hypothesis": self.n_empty_hypothesis, "n_empty_reference": self.n_empty_reference}

    @classmethod
    def resampleable(cls, stored, key: str):
        """Corpus BLEU of resampled studies from their stored n-gram counts (other values: per-study means)."""
        settings = stored.settings
        columns = stat_keys(settings["max_n"])
        if not key.startswith("bleu") or any(c not in stored.per_sample() for c in columns):
            return super().resampleable(stored, key)
        order = int(key[4:]) - 1

        def statistic(rows: np.ndarray) -> float:
            return float(corpus_scores(rows, settings["convention"], settings["smoothing"])[order])

        return stored.rows(columns, statistic, f"{settings['convention']} BLEU from per-report n-gram counts")
