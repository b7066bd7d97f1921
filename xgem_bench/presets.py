"""Named sets of metric choices (`--preset NAME` on `run` and `score-reports`), so numbers can be put beside a
published leaderboard that computed them one particular way. The preset's name is recorded in results and named in
table captions; the user's own `--metrics` / metric settings still take precedence and are recorded as such.

``rexrank``: the columns of the ReXrank leaderboard (rajpurkarlab/ReXrank, gh-pages `results/*.csv`) computed as its
pipeline (ReXrank-metric README, which runs CXR-Report-Metric) does; sources per choice are in `REXRANK.sources`
and docs/metrics/rexrank.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from xgem_bench.metrics.radcliq import INPUT_METRICS, REXRANK_BLEU


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    #: metric -> the settings the preset gives it
    metrics: Mapping[str, Mapping[str, Any]]
    #: (column label, metric, value key) of the preset's table, in the leaderboard's order
    columns: tuple[tuple[str, str, str], ...]
    #: metric -> where each choice comes from
    sources: Mapping[str, str] = field(default_factory=dict)

    def key_of(self, metric: str) -> str | None:
        """The value the preset reads from `metric` (e.g. bleu2 of bleu)."""
        return next((key for _, name, key in self.columns if name == metric), None)


REXRANK = Preset(
    name="rexrank",
    description="ReXrank leaderboard conventions: BLEU-2, BERTScore, SembScore, RadGraph, 1/RadCliQ-v1, RaTEScore, "
                "GREEN",
    metrics={
        "bleu": dict(REXRANK_BLEU),
        "bertscore": dict(INPUT_METRICS["bertscore"][1]),
        "sembscore": {},
        "radgraph-f1": dict(INPUT_METRICS["radgraph_combined"][1]),
        "radcliq-v1": {},
        "ratescore": {},
        "green": {},
    },
    columns=(("BLEU", "bleu", "bleu2"), ("BertScore", "bertscore", "bertscore"),
             ("SembScore", "sembscore", "sembscore"),
             ("RadGraph", "radgraph-f1", "combined"), ("1/RadCliQ-v1", "radcliq-v1", "inv_radcliq_v1"),
             ("RaTEScore", "ratescore", "ratescore"), ("GREEN", "green", "green")),
    sources={
        "bleu": "BLEU-2 per report, averaged: CXR-Report-Metric run_eval.py prep_reports/add_bleu_col (lower-case, "
                "' .' before every period, split on spaces) with fast_bleu BLEU weights (1/2, 1/2), smoothing "
                "method1; ReXrank-metric README",
        "bertscore": "distilroberta-base, layer 5, baseline rescaling, idf off: CRM add_bertscore_col + config.py "
                     "USE_IDF=False; ReXrank-metric README 'IDF disabled'",
        "sembscore": "cosine of CheXbert [CLS] embeddings: CRM CheXbert/src/encode.py, run_eval.py add_semb_col",
        "radgraph-f1": "RadGraph v1 (not XL), mean of entity and relation F1 ('combined'), case kept: CRM "
                       "radgraph_evaluate_model.py, run_eval.py add_radgraph_col",
        "radcliq-v1": "CRM radcliq-v1.pkl constants; the leaderboard shows 1 / mean RadCliQ-v1 (checked against the "
                      "published rows, shared/docs/research/report-metrics-rexrank.md §0)",
        "ratescore": "RaTEScore package defaults (long affinity matrix), as the ReXrank-metric README runs it",
        "green": "GREEN with StanfordAIMI/GREEN-RadLlama2-7b (ReXrank-metric README), greedy, 300-word reports",
    },
)

PRESETS = {REXRANK.name: REXRANK}


def get_preset(name: str) -> Preset:
    from xgem_bench.registry import unknown_name
    if name not in PRESETS:
        raise unknown_name("preset", name, PRESETS)
    return PRESETS[name]


def apply_preset(name: str | None, metrics: Sequence[str] | None, settings: Mapping[str, Mapping] | None
                 ) -> tuple[list[str] | None, dict[str, dict]]:
    """(metric names, per-metric settings) with the preset's choices under the user's: the user's `metrics`
    replace the preset's list, the user's settings override the preset's key by key."""
    settings = {name_: dict(values) for name_, values in (settings or {}).items()}
    if name is None:
        return (list(metrics) if metrics is not None else None), settings
    preset = get_preset(name)
    chosen = list(metrics) if metrics is not None else list(preset.metrics)
    merged = {metric: {**preset.metrics.get(metric, {}), **settings.get(metric, {})} for metric in chosen}
    merged = {metric: values for metric, values in merged.items() if values}
    extra = set(settings) - set(chosen)
    merged.update({metric: settings[metric] for metric in extra})  # reported as an error by the caller
    return chosen, merged
