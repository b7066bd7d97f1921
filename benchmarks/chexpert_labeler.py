"""CheXpert labeler: speed on the IU X-ray reports shipped with torchxrayvision, and agreement with their MeSH tags.

    .venv/bin/python benchmarks/chexpert_labeler.py [--repeats 3]

Speed: reports/s of `label_reports` on findings + impression of every report (single process). Agreement: a sanity
figure, not a reproduction target. The IU reports carry MeSH "major" tags assigned by annotators (present findings
only); a class counts as labelled when the labeler says positive or uncertain. The same table for a mention-only
labeler (every mention positive) shows what negation/uncertainty handling adds.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from xgem_bench.data.iuxray import MESH_TO_CHEXPERT, read_iu_reports
from xgem_bench.data.study import CHEXPERT_LABELS
from xgem_bench.labelers.chexpert import CheXpertLabeler, Mention

def iu_reports() -> tuple[list[str], list[set[str]]]:
    """Findings + impression of every IU report with text, and the CheXpert observations its MeSH tags name
    (the dataset's mapping, `xgem_bench.data.iuxray.MESH_TO_CHEXPERT`; `normal` alone = No Finding)."""
    texts, tags = [], []
    for report in read_iu_reports():
        if report.text.strip():
            texts.append(report.text)
            tags.append({name for name, value in report.labels().items() if value == 1.0})
    return texts, tags


class MentionOnly(CheXpertLabeler):
    """Baseline: the same mentions, every one positive (no negation or uncertainty detection)."""

    def _classify(self, index, sentence, spans):
        return [Mention(obs, index, s, e, sentence[s:e], 1.0, "") for obs, s, e in spans]


def agreement(labels: np.ndarray, tags: list[set[str]]) -> dict[str, tuple[float, float, float, int]]:
    out = {}
    for name in sorted({"No Finding", *MESH_TO_CHEXPERT.values()}, key=CHEXPERT_LABELS.index):
        j = CHEXPERT_LABELS.index(name)
        pred = np.isin(labels[:, j], (1.0, -1.0))
        truth = np.array([name in t for t in tags])
        tp, fp, fn = int((pred & truth).sum()), int((pred & ~truth).sum()), int((~pred & truth).sum())
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
        out[name] = (float((pred == truth).mean()), tp / max(tp + fn, 1), f1, int(truth.sum()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    texts, tags = iu_reports()
    labeler = CheXpertLabeler()
    labeler.label_many(texts[:50])  # warm-up
    best = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        labels = labeler.label_many(texts)
        best = min(best, time.perf_counter() - t0)
    chars = sum(map(len, texts)) / len(texts)
    print(f"IU X-ray reports (findings+impression): n={len(texts)}, mean {chars:.0f} characters")
    print(f"speed: {len(texts) / best:,.0f} reports/s (best of {args.repeats}, one process)")
    baseline = MentionOnly().label_many(texts)
    ours, naive = agreement(labels, tags), agreement(baseline, tags)
    print(f"\nagreement with MeSH major tags (labeler positive-or-uncertain vs tag present)")
    print(f"{'observation':28s} {'n tagged':>8s} {'acc':>6s} {'sens':>6s} {'F1':>6s} | mention-only acc / F1")
    for name, (acc, sens, f1, n) in ours.items():
        nacc, _, nf1, _ = naive[name]
        print(f"{name:28s} {n:8d} {acc:6.3f} {sens:6.3f} {f1:6.3f} | {nacc:6.3f} / {nf1:6.3f}")
    mean = np.mean([v[2] for v in ours.values()]), np.mean([v[2] for v in naive.values()])
    print(f"{'mean F1':28s} {'':8s} {'':6s} {'':6s} {mean[0]:6.3f} | {'':6s}   {mean[1]:6.3f}")


if __name__ == "__main__":
    main()
