"""Memorisation of the training reports: exact copies and the n-gram overlap with the closest training report.

Per generated report, against every report of the `training_split` (tokens by the shared text normalisation,
`xgem_bench.text`, whose three settings are this metric's too):
- `exact_copy`: 1 when its token sequence equals a training report's (a hash look-up);
- `ngram_overlap`: the largest share of its distinct `n`-grams found in one training report (the closest report;
  1 for an exact copy, even one shorter than `n` tokens);
- `near_copy`: 1 when `ngram_overlap` >= `threshold`;
- `longest_shared_span`: the longest run of tokens it shares with that closest report (in tokens).
The values are the means over studies (so `exact_copy` is the exact-copy rate), resampled per study for intervals.

The training reports come from the run's dataset (`training_split`), or, where there is no dataset (`score-reports`),
from the CSV named by `training_reports` (the score-reports format: an `id`/`study_id` and a `report`/`text` column);
its sha256 goes on record beside the path.

Efficiency: an inverted index n-gram -> ids of the training reports holding it, built once per run; a report's
overlaps with all training reports are one `np.bincount` over the postings of its n-grams, O(total postings) instead
of comparing it with every training report. Reports shorter than `n` tokens have no n-gram: their overlap is 0.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from xgem_bench.metrics.base import Metric, MetricContext, Sample
from xgem_bench.tasks import Modality
from xgem_bench.text import TextNormalization


def ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def longest_common_span(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest run of tokens common to a and b (dynamic programming, O(len a · len b))."""
    best, previous = 0, [0] * (len(b) + 1)
    for token in a:
        current = [0] * (len(b) + 1)
        for j, other in enumerate(b, start=1):
            if token == other:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


class NgramIndex:
    """Training reports as token lists, the set of their token sequences, and n-gram postings."""

    def __init__(self, reports: Sequence[Sequence[str]], n: int):
        self.n, self.reports = n, [list(r) for r in reports]
        self.exact = {tuple(r): position for position, r in enumerate(self.reports)}
        postings: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for position, tokens in enumerate(self.reports):
            for gram in ngrams(tokens, n):
                postings[gram].append(position)
        self.postings = {gram: np.asarray(ids, np.int64) for gram, ids in postings.items()}

    def closest(self, tokens: Sequence[str]) -> tuple[float, int]:
        """(largest share of the report's distinct n-grams found in one training report, that report's position);
        (0.0, -1) when no n-gram is shared."""
        grams = ngrams(tokens, self.n)
        hits = [self.postings[g] for g in grams if g in self.postings]
        if not hits:
            return 0.0, -1
        counts = np.bincount(np.concatenate(hits), minlength=len(self.reports))
        best = int(counts.argmax())
        return float(counts[best]) / len(grams), best

    def scores(self, tokens: Sequence[str], threshold: float) -> dict[str, float]:
        copied = self.exact.get(tuple(tokens))
        # an exact copy is the closest report whatever its length (reports shorter than n have no n-gram)
        overlap, best = (1.0, copied) if copied is not None else self.closest(tokens)
        return {"exact_copy": float(copied is not None), "ngram_overlap": overlap,
                "near_copy": float(overlap >= threshold),
                "longest_shared_span": float(longest_common_span(tokens, self.reports[best]) if best >= 0 else 0)}


class ReportMemorisation(Metric):
    name = "memorisation-report"
    kind = "text"
    higher_is_better = False
    primary = "exact_copy"
    KEYS = ("exact_copy", "ngram_overlap", "near_copy", "longest_shared_span")

    def __init__(self, context: MetricContext, **settings: Any):
        super().__init__(context, **settings)
        self.normalization = TextNormalization.from_settings(self.settings)
        if int(self.settings["n"]) < 1:
            raise ValueError(f"memorisation-report n must be at least 1, got {self.settings['n']}")
        self._index: NgramIndex | None = None
        if self.settings["training_reports"]:
            from xgem_bench.weights import sha256_of
            path = Path(self.settings["training_reports"])
            if not path.is_file():
                raise ValueError(f"memorisation-report training_reports: no file {path}")
            self.settings["training_reports_sha256"] = sha256_of(path)

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        return {"n": 4, "threshold": 0.8, "training_split": "train", "training_reports": "",
                **TextNormalization().settings()}

    def _training_reports(self) -> list[str]:
        ctx, path = self.context, self.settings["training_reports"]
        if path:
            from xgem_bench.report_scores import REPORT_COLUMNS, read_id_csv
            return [row["report"] for row in read_id_csv(path, {"report": REPORT_COLUMNS}).values()]
        if ctx.dataset is None:
            raise ValueError("memorisation-report needs the training reports: give a CSV of them with "
                             "-o memorisation-report.training_reports=PATH (columns id, report)")
        positions = ctx.dataset.indices(self.settings["training_split"])
        positions = positions[ctx.dataset.available(Modality.REPORT)[positions]]
        return [ctx.dataset.load(int(i), [Modality.REPORT]).report for i in positions]

    def training_index(self) -> NgramIndex:
        if self._index is None:
            reports = [self.normalization.tokens(report) for report in self._training_reports()]
            self._index = NgramIndex(reports, int(self.settings["n"]))
        return self._index

    def update(self, samples: Sequence[Sample]) -> None:
        index = self.training_index()
        for sample in samples:
            tokens = self.normalization.tokens(self.generated_of(sample))
            self.record(sample.study.study_id, **index.scores(tokens, float(self.settings["threshold"])))

    def compute(self) -> dict[str, float]:
        rows = list(self.per_sample().values())
        if not rows:
            raise ValueError("memorisation-report scored no report")
        return {**{key: float(np.mean([r[key] for r in rows])) for key in self.KEYS}, "n_generated": float(len(rows)),
                "n_training": float(len(self.training_index().reports))}
