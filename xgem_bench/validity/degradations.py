"""Controlled degradations of real outputs with a known order (level 0 = the real output, untouched).

Each ladder maps a level to the outputs of every study. Ladders that act on a share of the studies pick them in one
fixed order per ladder, so the studies degraded at a level are also degraded at every higher level (nested subsets:
the order of the levels is the order of the damage). Every random choice comes from a stream keyed by the ladder's
name, so a ladder is the same at every run.
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy.ndimage import gaussian_filter

from xgem_bench.data.study import Study

SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class Ladder:
    name: str
    #: "image" (the frontal output), "text" (the report), or "joint" (frontal + report of one study)
    kind: str
    levels: tuple[float, ...]
    unit: str  # what a level counts
    description: str
    #: (studies, level, context) -> one output per study (an image, a report, or an (image, report) pair)
    apply: Callable


def _rng(name: str, *keys: int) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(name.encode()), *keys])


def _chosen(name: str, n: int, share: float) -> np.ndarray:
    """Mask of the studies a share-ladder degrades: the first round(share * n) of a fixed order."""
    order = _rng(name).permutation(n)
    mask = np.zeros(n, bool)
    mask[order[:int(round(share * n))]] = True
    return mask


def _partner(name: str, n: int) -> np.ndarray:
    """For each study, another one (a derangement: nobody is paired with itself)."""
    if n < 2:
        raise ValueError("ladders that pair a study with another need at least 2 studies")
    return (np.arange(n) + _rng(name, 1).integers(1, n, n)) % n


# ---- images -------------------------------------------------------------------------------------------------------
def blur(studies: Sequence[Study], sigma: float, _context) -> list[np.ndarray]:
    return [s.frontal if sigma == 0 else gaussian_filter(s.frontal, sigma).astype(np.float32) for s in studies]


def noise(studies: Sequence[Study], sd: float, _context) -> list[np.ndarray]:
    return [np.clip(s.frontal + sd * _rng("noise", i).standard_normal(s.frontal.shape), 0, 1).astype(np.float32)
            for i, s in enumerate(studies)]


def drift(studies: Sequence[Study], offset: float, _context) -> list[np.ndarray]:
    """A brighter exposure: every pixel raised by `offset` (clipped at 1)."""
    return [np.clip(s.frontal + offset, 0, 1).astype(np.float32) for s in studies]


def lateral_for_frontal(studies: Sequence[Study], share: float, _context) -> list[np.ndarray]:
    mask = _chosen("lateral", len(studies), share)
    return [s.lateral if m else s.frontal for s, m in zip(studies, mask)]


def _drawn(study: Study) -> tuple:
    from xgem_bench.synthetic.demo_reports import DRAWN
    return tuple(study.labels.get(name) == 1 for name in DRAWN)


def swapped_findings_image(studies: Sequence[Study], share: float, context) -> list[np.ndarray]:
    """The study's own phantom (anatomy, noise) redrawn with the findings of another study that has other findings."""
    from xgem_bench.synthetic.demo import render_study
    mask = _chosen("findings-swapped", len(studies), share)
    out = []
    for i, (study, chosen) in enumerate(zip(studies, mask)):
        if not chosen:
            out.append(study.frontal)
            continue
        donor = context.donor_rows[i]
        row = {**donor, "study_id": study.study_id, "subject_index": int(study.subject_id.removeprefix("phantom"))}
        out.append(render_study(context.demo_seed, row)[0])
    return out


# ---- reports ------------------------------------------------------------------------------------------------------
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def sentences(report: str) -> list[str]:
    return [s for s in _SENTENCE.split(report.strip()) if s]


def _joined(parts: Sequence[str]) -> str:
    """Sentences back into a report, each closed by a full stop if it had none (IU impressions often end without
    one): moved elsewhere, an open sentence would run into the next and carry its negation over."""
    return " ".join(p if p[-1] in ".!?" else p + "." for p in (p.strip() for p in parts) if p)


def _per_study(name: str, change: Callable[[str, np.random.Generator], str]):
    def apply(studies: Sequence[Study], share: float, _context) -> list[str]:
        mask = _chosen(name, len(studies), share)
        return [change(s.report, _rng(name, 2, i)) if m else s.report for i, (s, m) in enumerate(zip(studies, mask))]
    return apply


def delete_findings(report: str, _rng=None) -> str:
    """Drop every sentence in which the CheXpert labeler finds a positive or uncertain mention of a pathology."""
    from xgem_bench.labelers import label_reports
    from xgem_bench.data.study import CHEXPERT_LABELS
    parts = sentences(report)
    labels = label_reports(parts)[:, [i for i, n in enumerate(CHEXPERT_LABELS) if n != "No Finding"]]
    keep = [p for p, row in zip(parts, labels) if not np.any((row == 1) | (row == -1))]
    return _joined(keep)


_NEGATION = re.compile(r"\b(?:no|without|negative for|free of|not)\s+(?:evidence of\s+|signs? of\s+)?", re.I)


def flip_negations(report: str, _rng=None) -> str:
    """Negated sentences lose their negation ("No effusion." -> "effusion."); the others gain one ("No ...")."""
    flipped = []
    for part in sentences(report):
        if _NEGATION.search(part):
            flipped.append(_NEGATION.sub("", part))
        else:
            flipped.append("No " + part[:1].lower() + part[1:])
    return _joined(flipped)


def shuffle_sentences(report: str, rng: np.random.Generator) -> str:
    """The sentences in another order (rotated by a random step, so a report of 2+ sentences always changes)."""
    parts = sentences(report)
    if len(parts) < 2:
        return report
    step = int(rng.integers(1, len(parts)))
    return _joined(parts[step:] + parts[:step])


def word_dropout(studies: Sequence[Study], p: float, _context) -> list[str]:
    out = []
    for i, study in enumerate(studies):
        words = study.report.split()
        keep = _rng("word-dropout", i).random(len(words)) >= p  # same draws at every level: nested drops
        out.append(" ".join(w for w, k in zip(words, keep) if k))
    return out


def other_report(studies: Sequence[Study], share: float, _context) -> list[str]:
    mask, partner = _chosen("other-report", len(studies), share), _partner("other-report", len(studies))
    return [studies[partner[i]].report if m else s.report for i, (s, m) in enumerate(zip(studies, mask))]


# ---- joint outputs ------------------------------------------------------------------------------------------------
def mismatched_pairs(studies: Sequence[Study], share: float, _context) -> list[tuple[np.ndarray, str]]:
    """One study's report with another study's frontal image."""
    mask, partner = _chosen("mismatched-pairs", len(studies), share), _partner("mismatched-pairs", len(studies))
    return [(studies[partner[i]].frontal if m else s.frontal, s.report) for i, (s, m) in enumerate(zip(studies, mask))]


def swapped_findings_pair(studies: Sequence[Study], share: float, context) -> list[tuple[np.ndarray, str]]:
    return list(zip(swapped_findings_image(studies, share, context), (s.report for s in studies)))


LADDERS = (
    Ladder("blur", "image", (0, 1, 2, 4, 8), "Gaussian sigma (px of 256)", "Gaussian blur", blur),
    Ladder("noise", "image", (0, 0.025, 0.05, 0.1, 0.2), "noise SD ([0, 1] scale)", "additive Gaussian noise", noise),
    Ladder("intensity-drift", "image", (0, 0.05, 0.1, 0.2, 0.3), "offset ([0, 1] scale)",
           "every pixel brighter by a constant", drift),
    Ladder("findings-swapped", "image", SHARES, "share of studies",
           "the phantom redrawn with another study's findings", swapped_findings_image),
    Ladder("lateral-for-frontal", "image", SHARES, "share of studies", "the lateral where the frontal belongs",
           lateral_for_frontal),
    Ladder("findings-deleted", "text", SHARES, "share of studies",
           "sentences with a positive or uncertain finding deleted", _per_study("findings-deleted", delete_findings)),
    Ladder("negations-flipped", "text", SHARES, "share of studies", "'no effusion' <-> 'effusion'",
           _per_study("negations-flipped", flip_negations)),
    Ladder("sentences-shuffled", "text", SHARES, "share of studies", "sentence order changed",
           _per_study("sentences-shuffled", shuffle_sentences)),
    Ladder("word-dropout", "text", (0, 0.1, 0.2, 0.4, 0.6), "share of words dropped", "words dropped at random",
           word_dropout),
    Ladder("other-report", "text", SHARES, "share of studies", "another study's report", other_report),
    Ladder("mismatched-pairs", "joint", SHARES, "share of studies", "another study's image with the study's report",
           mismatched_pairs),
    Ladder("findings-swapped-joint", "joint", SHARES, "share of studies",
           "the image redrawn with another study's findings, the report kept", swapped_findings_pair),
)
