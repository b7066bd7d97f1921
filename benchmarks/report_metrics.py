"""Report metrics: BLEU speed against NLTK, and RadGraph / RaTEScore throughput at the real models' size.

    .venv/bin/python benchmarks/report_metrics.py bleu [--pairs 30000]
    .venv/bin/python benchmarks/report_metrics.py radgraph [--reports 40] [--threads N]
    .venv/bin/python benchmarks/report_metrics.py ratescore [--reports 40] [--batch-size 16] [--threads N]
    .venv/bin/python benchmarks/report_metrics.py chexbert [--reports 40] [--batch-size 16] [--threads N]
    .venv/bin/python benchmarks/report_metrics.py bertscore [--reports 40] [--batch-size 16] [--threads N]

Texts: the IU X-ray reports shipped with torchxrayvision (findings + impression); pairs are report i against report
i + 1 (cycled to the requested count), so n-gram overlap is realistic but imperfect.

- bleu: xgem-bench BLEU-1..4 (tokenising + n-gram statistics + corpus aggregation) against NLTK `corpus_bleu` on the
  same tokens (NLTK's time excludes tokenising), and checks the values agree.
- chexbert: chexbert-f1 (labels) and sembscore (embeddings) on a random CheXbert of the real size (bert-base-uncased
  + 14 heads) in CheXbert's checkpoint format; each metric runs the network once per report.
- bertscore: ours against bert-score 0.3.13 on the same random distilroberta-size encoder (6 layers, hidden 768,
  slow BPE tokenizer), with the largest difference of the rescaled F1 between the two.
- radgraph / ratescore: the official packages on *randomly initialised* models of the real architectures' size
  (BERT-base encoders: 12 layers, hidden 768), built in the exact formats the packages load, since real weights
  cannot be downloaded here. Throughput depends on model size, not on weight values, except that RadGraph's span
  pruning and RaTEScore's entity count follow the predictions; treat the figures as estimates for the real models.
  On a machine shared with other jobs, `--threads 1` avoids OpenMP threads spinning against each other (on the
  loaded 2-core machine a BERT-base linear layer took 36 ms with 2 threads, 9 ms with 1).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "report_metrics"))


def report_pairs(count: int) -> tuple[list[str], list[str]]:
    from xgem_bench.data.iuxray import read_iu_reports
    texts = [" ".join(t for t in (r.findings, r.impression) if t) for r in read_iu_reports()]
    texts = [t for t in texts if t]
    hyps = [texts[i % len(texts)] for i in range(count)]
    refs = [texts[(i + 1) % len(texts)] for i in range(count)]
    return hyps, refs


def bench_bleu(args) -> None:
    from nltk.translate.bleu_score import corpus_bleu

    from xgem_bench.metrics.bleu import bleu
    from xgem_bench.text import TextNormalization

    hyps, refs = report_pairs(args.pairs)
    norm = TextNormalization()
    start = time.perf_counter()
    ours = bleu(hyps, refs)
    ours_s = time.perf_counter() - start
    hyp_tokens, ref_tokens = [norm.tokens(h) for h in hyps], [[norm.tokens(r)] for r in refs]
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nltk = corpus_bleu(ref_tokens, hyp_tokens, weights=[(1.0,), (0.5, 0.5), (1 / 3,) * 3, (0.25,) * 4])
    nltk_s = time.perf_counter() - start
    difference = max(abs(ours[f"bleu{n}"] - v) for n, v in enumerate(nltk, start=1))
    print(f"BLEU over {len(hyps)} report pairs ({sum(map(len, hyp_tokens))} hypothesis tokens)")
    print(f"  xgem-bench (tokenise + score): {ours_s:.2f} s  ({len(hyps) / ours_s:,.0f} pairs/s)")
    print(f"  nltk corpus_bleu (score only): {nltk_s:.2f} s  ({len(hyps) / nltk_s:,.0f} pairs/s)")
    print(f"  speed-up {nltk_s / ours_s:.1f}x; largest difference in BLEU-1..4: {difference:.2e}")
    print("  values:", {k: round(v, 4) for k, v in ours.items()})


def _context(batch_size: int):
    from xgem_bench.metrics import MetricContext
    from xgem_bench.tasks import Modality, parse_task
    return MetricContext(task=parse_task("F->T"), modality=Modality.REPORT, batch_size=batch_size)


def _samples(count: int):
    from xgem_bench.data.study import Study
    from xgem_bench.metrics import Sample
    from xgem_bench.tasks import Modality
    hyps, refs = report_pairs(count)
    return [Sample(Study(str(i), report=r), {Modality.REPORT: h}) for i, (h, r) in enumerate(zip(hyps, refs))]


def _timed(metric, samples, batch_size: int) -> float:
    metric.update(samples[:1])  # loads the models
    start = time.perf_counter()
    for i in range(1, len(samples), batch_size):
        metric.update(samples[i:i + batch_size])
    return time.perf_counter() - start


def bench_radgraph(args) -> None:
    from report_tiny_models import build_bert, build_radgraph_archive

    from xgem_bench import weights
    from xgem_bench.metrics.radgraph_f1 import RadGraphF1

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XGEM_BENCH_CACHE"] = str(Path(tmp) / "cache")
        bert = build_bert(Path(tmp) / "bert", hidden=768, layers=12)
        archive = build_radgraph_archive(Path(tmp) / "radgraph.tar.gz", bert, feature_size=20, hidden_dims=150)
        weights.import_file("radgraph", archive)
        weights.import_file("radgraph-bert", bert)
        metric = RadGraphF1(_context(args.batch_size), model_type="radgraph")
        samples = _samples(args.reports + 1)
        seconds = _timed(metric, samples, args.batch_size)
    pairs = len(samples) - 1
    print(f"RadGraph-F1 (radgraph {metric.settings['package']}, BERT-base-size random DyGIE++, CPU threads "
          f"{_threads()}): {pairs} pairs in {seconds:.1f} s = {pairs / seconds:.2f} pairs/s "
          f"({2 * pairs / seconds:.2f} reports/s; the package annotates one report per forward pass)")


def bench_ratescore(args) -> None:
    from report_tiny_models import build_bert, build_rate_ner

    from xgem_bench import weights
    from xgem_bench.metrics.ratescore import RaTEScore

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XGEM_BENCH_CACHE"] = str(Path(tmp) / "cache")
        weights.import_file("ratescore-ner", build_rate_ner(Path(tmp) / "ner", hidden=768, layers=12, favour=None))
        weights.import_file("ratescore-biolord", build_bert(Path(tmp) / "enc", hidden=768, layers=12))
        samples = _samples(args.reports + 1)
        for batch in sorted({1, args.batch_size}):
            metric = RaTEScore(_context(batch))
            seconds = _timed(metric, samples, max(batch, 8))
            pairs = len(samples) - 1
            print(f"RaTEScore ({metric.settings['package']}, BERT-base-size random NER + encoder, NER batch {batch}, "
                  f"CPU threads {_threads()}): {pairs} pairs in {seconds:.1f} s = {pairs / seconds:.2f} pairs/s")


def bench_chexbert(args) -> None:
    from report_tiny_models import build_bert, build_chexbert

    from xgem_bench import weights
    from xgem_bench.metrics.chexbert_f1 import CheXbertF1
    from xgem_bench.metrics.sembscore import SembScore
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XGEM_BENCH_WEIGHTS"] = tmp
        bert = build_bert(Path(tmp) / "bert-src", hidden=768, layers=12)
        weights.import_file("chexbert", build_chexbert(Path(tmp) / "chexbert-src.pth", bert))
        weights.import_file("bert-base-uncased-config", bert)
        samples = _samples(args.reports + 1)
        for metric_class in (CheXbertF1, SembScore):
            seconds = _timed(metric_class(_context(args.batch_size)), samples, args.batch_size)
            print(f"{metric_class.name} (random CheXbert of bert-base size, batch {args.batch_size}, CPU threads "
                  f"{_threads()}): {args.reports} pairs in {seconds:.1f} s = {args.reports / seconds:.2f} pairs/s")


def bench_bertscore(args) -> None:
    import bert_score
    import numpy as np
    from report_tiny_models import build_roberta

    from xgem_bench import weights
    from xgem_bench.metrics.bertscore import BERTScore
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XGEM_BENCH_WEIGHTS"] = tmp
        folder = build_roberta(Path(tmp) / "roberta-src", hidden=768, layers=6)
        weights.import_file("distilroberta-base", folder)
        samples = _samples(args.reports + 1)
        metric = BERTScore(_context(args.batch_size))
        seconds = _timed(metric, samples, args.batch_size)
        ours = np.array([v["bertscore"] for _, v in metric.per_sample_rows[1:]])
        hyps, refs = report_pairs(args.reports + 1)
        scorer = bert_score.BERTScorer(model_type=str(folder), num_layers=5, lang="en", rescale_with_baseline=True,
                                       baseline_path=str(Path(bert_score.__file__).parent / "rescale_baseline" /
                                                         "en" / "distilroberta-base.tsv"),
                                       batch_size=args.batch_size, device="cpu")
        start = time.perf_counter()
        _, _, upstream = scorer.score(hyps[1:], refs[1:])
        upstream_s = time.perf_counter() - start
        print(f"bertscore (random distilroberta-size encoder, batch {args.batch_size}, CPU threads {_threads()}): "
              f"{args.reports} pairs in {seconds:.1f} s = {args.reports / seconds:.2f} pairs/s; bert-score 0.3.13 "
              f"{upstream_s:.1f} s; max |F1 difference| {np.abs(ours - upstream.numpy()).max():.2e}")


def _threads() -> str:
    import torch
    return f"{torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="which", required=True)
    sub.add_parser("bleu").add_argument("--pairs", type=int, default=30000)
    for name in ("radgraph", "ratescore", "chexbert", "bertscore"):
        p = sub.add_parser(name)
        p.add_argument("--reports", type=int, default=40)
        p.add_argument("--batch-size", type=int, default=16)
        p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if getattr(args, "threads", None):
        import torch
        torch.set_num_threads(args.threads)
    {"bleu": bench_bleu, "radgraph": bench_radgraph, "ratescore": bench_ratescore, "chexbert": bench_chexbert,
     "bertscore": bench_bertscore}[args.which](args)


if __name__ == "__main__":
    main()
