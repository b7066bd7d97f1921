"""CheXpert labeler: speed on the IU X-ray reports shipped with torchxrayvision, and agreement with their MeSH tags.

    .venv/bin/python benchmarks/chexpert_labeler.py [--repeats 3] [--spacy-model en_core_web_sm]

Speed: reports/s of `label_reports` on findings + impression of every report (single process). Agreement: a sanity
figure, not a reproduction target. The IU reports carry MeSH "major" tags assigned by annotators (present findings
only); a class counts as labelled when the labeler says positive or uncertain. The same table for a mention-only
labeler (every mention positive) shows what negation/uncertainty handling adds.

Where the disagreements come from: each false positive is split into "labelled positive" and "labelled uncertain"
(a hedged mention: MeSH tags only definite findings), each false negative into "negated" and "not mentioned" (the
phrase files found nothing, so no negation rule can help). Only the negated false negatives and the positive false
positives can be the negation engine's errors, and most positives are the original's mention rules ("scarring" is a
Lung Opacity, "the heart" a Cardiomegaly mention). The "negation ceiling" line bounds what any negation engine could
still gain here: every negated false negative made positive, and every false positive whose mentions all sit in
sentences with a negation word (no, not, without, normal, clear, ...) made negative (No Finding: made positive when
every other mention is negatable so).

`--spacy-model NAME` (a spaCy pipeline, package name or folder, e.g. from `pip install spacy en-core-web-sm-...`;
not a project dependency) also times a dependency parse (tagger + parser) of the same reports: the cost a NegBio-style
engine would pay before matching any pattern.
"""
from __future__ import annotations

import argparse
import re
import time

import numpy as np

from xgem_bench.data.iuxray import MESH_TO_CHEXPERT, read_iu_reports
from xgem_bench.data.study import CHEXPERT_LABELS
from xgem_bench.labelers.chexpert import CheXpertLabeler, Mention, clean, split_sentences

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


def disagreements(labels: np.ndarray, tags: list[set[str]]) -> dict[str, tuple[int, int, int, int]]:
    """Per observation: (false positives labelled 1, labelled -1, false negatives labelled 0, left blank)."""
    out = {}
    for name in sorted({"No Finding", *MESH_TO_CHEXPERT.values()}, key=CHEXPERT_LABELS.index):
        values = labels[:, CHEXPERT_LABELS.index(name)]
        truth = np.array([name in t for t in tags])
        out[name] = (int(((values == 1) & ~truth).sum()), int(((values == -1) & ~truth).sum()),
                     int(((values == 0) & truth).sum()), int((np.isnan(values) & truth).sum()))
    return out


_NEGATION_WORD = re.compile(r"\b(no|not|without|normal|clear|negative|free|resolved|removed|unremarkable|limits|"
                            r"absent|nor|neither|none)\b")


def negation_ceiling(labeler: CheXpertLabeler, texts: list[str], tags: list[set[str]],
                     labels: np.ndarray) -> np.ndarray:
    """`labels` with every error a negation engine could plausibly fix set right (see the module docstring)."""
    fixed = labels.copy()
    for i, text in enumerate(texts):
        mentions = labeler.mentions(text)
        sentences = split_sentences(clean(text))
        def negatable(m: Mention) -> bool:
            return m.value == 0 or bool(_NEGATION_WORD.search(sentences[m.sentence]))

        if "No Finding" in tags[i] and all(negatable(m) for m in mentions if m.observation != "Support Devices"):
            fixed[i, CHEXPERT_LABELS.index("No Finding")] = 1.0
        for name in set(MESH_TO_CHEXPERT.values()):
            j = CHEXPERT_LABELS.index(name)
            if name in tags[i] and labels[i, j] == 0:
                fixed[i, j] = 1.0
            elif name not in tags[i] and labels[i, j] in (1.0, -1.0) and all(
                    negatable(m) for m in mentions if m.observation == name):
                fixed[i, j] = 0.0
    return fixed


def rates(run, n: int, repeats: int) -> tuple[float, float]:
    """Items per second of `run()` (which handles n items), best of `repeats`: by wall clock and by this process's
    CPU time (the second is the fairer figure on a shared, loaded machine)."""
    wall = cpu = float("inf")
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        run()
        wall, cpu = min(wall, time.perf_counter() - w0), min(cpu, time.process_time() - c0)
    return n / wall, n / cpu


def spacy_parse_rates(model: str, texts: list[str], repeats: int) -> tuple[float, float]:
    import spacy

    nlp = spacy.load(model, exclude=["ner", "lemmatizer", "attribute_ruler"])
    list(nlp.pipe(texts[:50]))  # warm-up
    return rates(lambda: list(nlp.pipe(texts, batch_size=256)), len(texts), repeats)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--spacy-model", help="a spaCy pipeline (package name or folder) to time a dependency parse")
    args = parser.parse_args()
    texts, tags = iu_reports()
    labeler = CheXpertLabeler()
    labeler.label_many(texts[:50])  # warm-up
    wall, cpu = rates(lambda: labeler.label_many(texts), len(texts), args.repeats)
    labels = labeler.label_many(texts)
    chars = sum(map(len, texts)) / len(texts)
    print(f"IU X-ray reports (findings+impression): n={len(texts)}, mean {chars:.0f} characters")
    print(f"speed: {wall:,.0f} reports/s wall clock, {cpu:,.0f} reports/s of CPU time (best of {args.repeats}, "
          f"one process)")
    baseline = MentionOnly().label_many(texts)
    ours, naive = agreement(labels, tags), agreement(baseline, tags)
    print(f"\nagreement with MeSH major tags (labeler positive-or-uncertain vs tag present)")
    print(f"{'observation':28s} {'n tagged':>8s} {'acc':>6s} {'sens':>6s} {'F1':>6s} | mention-only acc / F1")
    for name, (acc, sens, f1, n) in ours.items():
        nacc, _, nf1, _ = naive[name]
        print(f"{name:28s} {n:8d} {acc:6.3f} {sens:6.3f} {f1:6.3f} | {nacc:6.3f} / {nf1:6.3f}")
    mean = np.mean([v[2] for v in ours.values()]), np.mean([v[2] for v in naive.values()])
    print(f"{'mean F1':28s} {'':8s} {'':6s} {'':6s} {mean[0]:6.3f} | {'':6s}   {mean[1]:6.3f}")
    print("\nwhere the disagreements come from (reports)")
    print(f"{'observation':28s} {'FP pos':>7s} {'FP unc':>7s} {'FN neg':>7s} {'FN blank':>8s}")
    for name, counts in disagreements(labels, tags).items():
        print(f"{name:28s} {counts[0]:7d} {counts[1]:7d} {counts[2]:7d} {counts[3]:8d}")
    ceiling = agreement(negation_ceiling(labeler, texts, tags, labels), tags)
    print(f"negation ceiling: mean F1 {np.mean([v[2] for v in ceiling.values()]):.3f}")
    if args.spacy_model:
        wall, cpu = spacy_parse_rates(args.spacy_model, texts, args.repeats)
        print(f"\nspaCy {args.spacy_model} dependency parse alone: {wall:,.0f} reports/s wall clock, {cpu:,.0f} "
              f"reports/s of CPU time (best of {args.repeats})")


if __name__ == "__main__":
    main()
