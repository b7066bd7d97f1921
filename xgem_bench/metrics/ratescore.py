"""RaTEScore through the official `RaTEScore` package: entity-aware similarity of generated and real reports.

The package splits each report into sentences (medspacy/PyRuSH), tags medical entities with RaTE-NER, embeds them with
BioLORD, matches every entity to its most similar counterpart, and weights the matches by an entity-type affinity
matrix (``affinity_matrix``: ``long``, the package default, or ``short``; both are MIT files of the upstream repository
that RaTEScore 0.6.0 embeds verbatim). The score of a pair is the harmonic mean of both matching directions.

Upstream scores a pair in which either side has no entity 0.5. A report that yields no sentence at all (empty, or only
fragments under 3 characters) makes RaTEScore 0.6.0 misalign every later pair of the batch (its per-report lists
skip that report), so such pairs never reach the package: they are scored 0.5 here, exactly the value upstream gives
a report without entities, and counted. Models load from the local folders of the weights catalog; the package
version and the folders' checksums are added to the settings.
"""
from __future__ import annotations

import contextlib
import sys
from importlib import resources
from typing import Sequence

from xgem_bench.metrics.base import Sample
from xgem_bench.metrics.upstream_text import RAW_TEXT, UpstreamTextMetric

AFFINITY_MATRICES = ("long", "short", "short-repo")
NO_ENTITY_SCORE = 0.5  # RaTEScore.compute_score's value when either report has no entity


def _affinity_argument(name: str) -> str:
    """What RaTEScore's `affinity_matrix` argument takes: a name it embeds, or the path of a JSON file."""
    if name == "short-repo":
        return str(resources.files("xgem_bench.metrics") / "ratescore_data" / "short_weight.json")
    return name


class RaTEScore(UpstreamTextMetric):
    name = "ratescore"
    primary = "ratescore"
    weights = ("ratescore-ner", "ratescore-biolord")
    packages = ("RaTEScore", "medspacy")  # RaTEScore imports medspacy without declaring it
    choices = {"affinity_matrix": AFFINITY_MATRICES}

    @classmethod
    def default_settings(cls):
        return {"affinity_matrix": "long", **RAW_TEXT}

    def __init__(self, context, **settings):
        super().__init__(context, **settings)
        from xgem_bench import weights
        for weight in self.weights:
            self.settings[f"{weight}_sha256"] = weights.checksum(weight)
        self.add_state("total", 0.0, "sum")
        self.add_state("count", 0, "sum")
        self.add_state("n_without_sentences", 0, "sum")

    def _ratescore(self):
        if self._scorer is None:
            from loguru import logger

            from xgem_bench import weights
            logger.disable("PyRuSH")  # its sentencizer logs every token at DEBUG level
            with contextlib.redirect_stdout(sys.stderr):  # keep stdout clean for JSON output
                from RaTEScore import RaTEScore as Upstream
                self._scorer = Upstream(bert_model=str(weights.require("ratescore-ner")),
                                        eval_model=str(weights.require("ratescore-biolord")),
                                        batch_size=self.context.batch_size,
                                        use_gpu=str(self.context.device).startswith("cuda"),
                                        affinity_matrix=_affinity_argument(self.settings["affinity_matrix"]))
        return self._scorer

    def update(self, samples: Sequence[Sample]) -> None:
        if not samples:
            return
        scorer = self._ratescore()
        from RaTEScore.utils import sentence_split
        hyps = [self.normalization.normalize(self.generated_of(s)) for s in samples]
        refs = [self.normalization.normalize(self.reference_of(s)) for s in samples]
        scores = [NO_ENTITY_SCORE] * len(samples)
        # the package's own sentence splitter decides which reports it can score without misaligning the batch
        scorable = [i for i in range(len(samples)) if sentence_split([hyps[i]])[0] and sentence_split([refs[i]])[0]]
        self.n_without_sentences += len(samples) - len(scorable)
        if scorable:
            with contextlib.redirect_stdout(sys.stderr):
                values = scorer.compute_score([hyps[i] for i in scorable], [refs[i] for i in scorable])
            for i, value in zip(scorable, values):
                scores[i] = float(value)
        for sample, score in zip(samples, scores):
            self.total += score
            self.count += 1
            self.record(sample.study.study_id, ratescore=score)

    def compute(self) -> dict[str, float]:
        return {"ratescore": self.total / self.count if self.count else float("nan"), "n": self.count,
                "n_without_sentences": self.n_without_sentences}
