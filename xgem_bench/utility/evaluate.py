"""Scores of an arm on the real test set: AUROC and F1 per class and micro / macro / weighted, per seed, their mean and
sd over seeds, and a percentile-bootstrap interval over test studies of the seed mean.

Each value is the XRV-classification metric's own computation (`classification_scores`: sklearn's roc_auc_score and
f1_score, a class scored only where its label is defined and where it has positives and negatives), applied to the
classes of the experiment (the other pathology columns are left undefined, so they enter no average). The interval
resamples test studies with replacement, the same resample for every seed, and takes the mean over seeds each time:
it is the test-set uncertainty of the reported (seed-mean) value; the sd is the seed-to-seed (training) spread.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from xgem_bench.data.study import PAPER_PATHOLOGIES
from xgem_bench.intervals import quantile_interval
from xgem_bench.metrics.xrv_classification import classification_scores

AVERAGES = ("micro", "macro", "weighted")


def value_keys(classes: Sequence[str]) -> list[str]:
    return ([f"auc_{a}" for a in AVERAGES] + [f"f1_{a}" for a in AVERAGES]
            + [f"{m}/{c}" for m in ("auc", "f1") for c in classes])


def scores(labels: np.ndarray, probabilities: np.ndarray, classes: Sequence[str], threshold: float
           ) -> dict[str, float]:
    """AUROC / F1 values of one classifier on (n, classes) labels (1/0/NaN) and probabilities."""
    n = len(labels)
    y = np.full((n, len(PAPER_PATHOLOGIES)), np.nan)
    p = np.zeros((n, len(PAPER_PATHOLOGIES)))
    columns = [PAPER_PATHOLOGIES.index(c) for c in classes]
    y[:, columns], p[:, columns] = labels, probabilities
    values = classification_scores(y, p, threshold=threshold)
    return {key: values[key] for key in value_keys(classes)}


def _auc(truth: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUROC with average ranks for ties (what roc_auc_score computes), for the bootstrap's many calls."""
    from scipy.stats import rankdata
    n_pos = int(truth.sum())
    n_neg = len(truth) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((rankdata(score)[truth == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _f1(truth: np.ndarray, called: np.ndarray) -> float:
    tp = float(np.sum(called & (truth == 1)))
    wrong = float(np.sum(called != (truth == 1)))
    return 2 * tp / (2 * tp + wrong) if tp + wrong else 0.0


def fast_scores(labels: np.ndarray, probabilities: np.ndarray, threshold: float) -> np.ndarray:
    """The values of `scores` in `value_keys` order, computed without sklearn's input checks (the bootstrap calls it
    thousands of times); tests hold it equal to `scores`."""
    aucs, f1s, supports, pooled = [], [], [], []
    per_class_auc, per_class_f1 = [], []
    for k in range(labels.shape[1]):
        defined = ~np.isnan(labels[:, k])
        truth, score = labels[defined, k], probabilities[defined, k]
        auc = _auc(truth, score)
        f1 = _f1(truth, score >= threshold) if not np.isnan(auc) else float("nan")
        per_class_auc.append(auc)
        per_class_f1.append(f1)
        if not np.isnan(auc):
            aucs.append(auc)
            f1s.append(f1)
            supports.append(truth.sum())
            pooled.append((truth, score))
    nan = float("nan")
    if pooled:
        truth = np.concatenate([t for t, _ in pooled])
        score = np.concatenate([s for _, s in pooled])
        micro = [_auc(truth, score), _f1(truth, score >= threshold)]
    else:
        micro = [nan, nan]
    macro = [float(np.mean(aucs)), float(np.mean(f1s))] if aucs else [nan, nan]
    weighted = [float(np.average(aucs, weights=supports)), float(np.average(f1s, weights=supports))] if aucs \
        else [nan, nan]
    return np.array([micro[0], macro[0], weighted[0], micro[1], macro[1], weighted[1], *per_class_auc,
                     *per_class_f1])


def summarise(labels: np.ndarray, per_seed: Sequence[np.ndarray], classes: Sequence[str], threshold: float,
              n_resamples: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
    """{"per_seed": [values...], "mean", "sd", "interval": {key: [low, high]}, interval settings}."""
    keys = value_keys(classes)
    by_seed = [scores(labels, p, classes, threshold) for p in per_seed]
    matrix = np.array([[v[k] for k in keys] for v in by_seed])
    rng = np.random.default_rng(seed)
    draws = np.full((n_resamples, len(keys)), np.nan)
    for r in range(n_resamples):
        index = rng.integers(0, len(labels), size=len(labels))
        with np.errstate(invalid="ignore"):
            draws[r] = np.mean([fast_scores(labels[index], p[index], threshold) for p in per_seed], axis=0)
    with warnings.catch_warnings():  # a class without test positives is NaN in every seed: NaN, said in the docs
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(matrix, axis=0) if len(matrix) else matrix
        sd = np.nanstd(matrix, axis=0, ddof=1) if len(matrix) > 1 else np.full(len(keys), np.nan)
    return {"per_seed": by_seed, "mean": dict(zip(keys, mean.tolist())), "sd": dict(zip(keys, sd.tolist())),
            "interval": {k: list(quantile_interval(draws[:, i], level)) for i, k in enumerate(keys)},
            "interval_settings": {"method": "percentile bootstrap over test studies of the seed mean",
                                  "n_resamples": n_resamples, "level": level, "seed": seed,
                                  "n_invalid": {k: int(np.isnan(draws[:, i]).sum()) for i, k in enumerate(keys)}}}
