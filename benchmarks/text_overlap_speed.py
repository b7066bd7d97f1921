"""Speed (reports/s) of the n-gram report metrics ROUGE, METEOR and CIDEr-D, against their reference packages on the
same texts, with the largest difference of the values (a parity check at benchmark scale).

    .venv/bin/python benchmarks/text_overlap_speed.py [--pairs 5000] [--metrics rouge,meteor,cider]

Texts: the IU X-ray reports shipped with torchxrayvision (findings + impression), report i against report i + 1, as in
benchmarks/report_metrics.py. Each metric runs through the registry (a Metric with `update` in batches of 64 and
`compute`), so the figure includes tokenising and per-report bookkeeping, as in a run. References: rouge-score's
RougeScorer (rouge1, rouge2, rougeL), nltk's single_meteor_score with WordNet disabled (our default synonyms=false),
pycocoevalcap's Cider on the same normalised tokens.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "report_metrics"))

from report_metrics import report_pairs  # noqa: E402  (benchmarks/report_metrics.py: the shared IU pairs)


def _ours(name: str, hyps, refs) -> tuple[float, dict]:
    from report_samples import make_metric, samples
    metric = make_metric(name)
    batch = samples(list(zip(hyps, refs)))
    start = time.perf_counter()
    for i in range(0, len(batch), 64):
        metric.update(batch[i:i + 64])
    values = metric.compute()
    return time.perf_counter() - start, {sid: v for sid, v in metric.per_sample().items()}


def _upstream_rouge(hyps, refs):
    from rouge_score import rouge_scorer
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
    start = time.perf_counter()
    scores = [scorer.score(r, h) for h, r in zip(hyps, refs)]
    return time.perf_counter() - start, [{k: s[k].fmeasure for k in ("rouge1", "rouge2", "rougeL")} for s in scores]


class _NoWordNet:
    def synsets(self, word):
        return []


def _upstream_meteor(hyps, refs):
    from nltk.translate.meteor_score import single_meteor_score
    from xgem_bench.metrics.meteor import METEOR
    from xgem_bench.text import TextNormalization
    norm = TextNormalization.from_settings(METEOR.default_settings())
    pairs = [(norm.tokens(h), norm.tokens(r)) for h, r in zip(hyps, refs)]
    start = time.perf_counter()
    scores = [single_meteor_score(r, h, wordnet=_NoWordNet()) for h, r in pairs]
    return time.perf_counter() - start, [{"meteor": s} for s in scores]


def _upstream_cider(hyps, refs):
    from pycocoevalcap.cider.cider import Cider
    from xgem_bench.metrics.cider import CIDEr
    from xgem_bench.text import TextNormalization
    norm = TextNormalization.from_settings(CIDEr.default_settings())
    gts = {i: [norm.normalize(r)] for i, r in enumerate(refs)}
    res = {i: [norm.normalize(h)] for i, h in enumerate(hyps)}
    start = time.perf_counter()
    _, scores = Cider().compute_score(gts, res)
    return time.perf_counter() - start, [{"cider": float(s)} for s in scores]


UPSTREAM = {"rouge": ("rouge-score", _upstream_rouge), "meteor": ("nltk meteor_score", _upstream_meteor),
            "cider": ("pycocoevalcap Cider", _upstream_cider)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--metrics", default="rouge,meteor,cider")
    args = parser.parse_args()
    hyps, refs = report_pairs(args.pairs)
    print(f"{args.pairs} IU X-ray report pairs")
    for name in args.metrics.split(","):
        seconds, ours = _ours(name, hyps, refs)
        label, run_upstream = UPSTREAM[name]
        upstream_s, upstream = run_upstream(hyps, refs)
        difference = max(abs(ours[f"s{i}"][k] - v) for i, row in enumerate(upstream) for k, v in row.items())
        print(f"{name:7s} xgem-bench {args.pairs / seconds:9.0f} reports/s   {label} {args.pairs / upstream_s:9.0f} "
              f"reports/s   max |difference| {difference:.1e}")


if __name__ == "__main__":
    main()
