"""Intra-study BLEU (paper Table A2): the report a model generated for a study from its frontal X-ray (F->T) against
the report it generated for the same study from the lateral (L->T), and back.

Computed at run time, in the run of either task: each study's report of this run is paired with the same model's
report of the paired task, read from the generation cache through `MetricContext.siblings` (never generated here).
Each of the two reports is a hypothesis whose reference is the other (`bleu.intra_study_rows`), and the rows are
aggregated under the BLEU settings (`convention`, `smoothing`, `max_n`, normalisation) exactly like `bleu`, so the
value is `bleu.intra_study_bleu` of the two tasks' texts. The first of the two runs finds no sibling reports and is
skipped with the command that generates them; the second run records the value. Per study, the two rows' n-gram counts
are recorded (`f_*`, `l_*`), so a bootstrap recomputes corpus BLEU exactly.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from xgem_bench.metrics.base import MetricUnavailable, Sample
from xgem_bench.metrics.bleu import BLEU, corpus_scores, intra_study_rows, stat_keys
from xgem_bench.tasks import Modality

#: the paired tasks, in the order their reports are paired (the F->T report first)
PAIRED_TASKS = ("F->T", "L->T")
_PREFIXES = ("f_", "l_")


class IntraStudyBLEU(BLEU):
    name = "intra-study-bleu"
    kind = "text"
    primary = "bleu4"
    tasks = PAIRED_TASKS

    def __init__(self, context, **settings):
        super().__init__(context, **settings)
        self.other_task = next(t for t in PAIRED_TASKS if t != context.task.name)
        self.add_state("n_missing_sibling", 0, "sum")
        self.add_state("n_skipped_studies", 0, "sum")

    def update(self, samples: Sequence[Sample]) -> None:
        siblings = self.context.siblings
        if siblings is None:
            raise MetricUnavailable("intra-study-bleu reads the paired task's reports from the run's generation "
                                    "cache; it runs inside `xgem-bench run` (xgem_bench.run)")
        max_n = self.settings["max_n"]
        keys = stat_keys(max_n)
        for sample in samples:
            found = siblings.outputs(self.other_task, sample.study.study_id)
            if found is None:
                self.n_missing_sibling += 1
                continue
            pair = {self.context.task.name: self.generated_of(sample), self.other_task: found[Modality.REPORT]}
            rows = intra_study_rows([pair[t] for t in PAIRED_TASKS], max_n, self.normalization)
            if rows is None:  # one of the two reports is empty: nothing to compare
                self.n_skipped_studies += 1
                continue
            study = corpus_scores(np.stack(rows), self.settings["convention"], self.settings["smoothing"])
            self.record(sample.study.study_id, **{f"bleu{n}": float(v) for n, v in enumerate(study, start=1)},
                        **{p + key: int(v) for p, row in zip(_PREFIXES, rows) for key, v in zip(keys, row)})
            self.stats.extend(row.tolist() for row in rows)

    def compute(self) -> dict[str, float]:
        if not self.stats and self.n_missing_sibling:
            raise MetricUnavailable(
                f"intra-study BLEU pairs these reports with the same model's {self.other_task} reports of the same "
                f"studies, which are not generated yet: run `{self.context.siblings.how_to_generate(self.other_task)}`"
                " (that run records intra-study-bleu)")
        max_n = self.settings["max_n"]
        stats = np.array(self.stats, dtype=np.int64).reshape(-1, 2 + 2 * max_n)
        scores = corpus_scores(stats, self.settings["convention"], self.settings["smoothing"])
        return {**{f"bleu{n}": float(v) for n, v in enumerate(scores, start=1)}, "n_studies": len(stats) // 2,
                "n_reports": len(stats), "n_skipped_studies": self.n_skipped_studies,
                "n_missing_sibling": self.n_missing_sibling}

    @classmethod
    def resampleable(cls, stored, key: str):
        """Corpus BLEU of resampled studies from both of each study's recorded rows."""
        settings = stored.settings
        if not key.startswith("bleu"):
            return super(BLEU, cls).resampleable(stored, key)
        keys = stat_keys(settings["max_n"])
        order = int(key[4:]) - 1

        def statistic(rows: np.ndarray) -> float:
            both = rows.reshape(len(rows) * 2, len(keys))  # the f_ row, then the l_ row, of each study
            return float(corpus_scores(both, settings["convention"], settings["smoothing"])[order])

        return stored.rows([p + k for p in _PREFIXES for k in keys], statistic,
                           f"{settings['convention']} intra-study BLEU from both reports' n-gram counts per study")
