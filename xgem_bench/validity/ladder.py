"""The validity ladder: does each metric move the right way when outputs get worse in a known order?

For every ladder of `degradations.LADDERS` and every metric that scores its kind of output and can run here, the
metric scores the degraded outputs of the same studies at each level (level 0: the real outputs, i.e. a perfect
model). `EXPECTED` says, per metric, which ladders must make it worse (`degrades`: checked by Spearman's rho of the
value against the level, in the metric's bad direction, at least `MIN_RHO`) and which it should not notice
(`ignores`: reported as its movement, relative to the largest movement it makes on a ladder it must follow).
Ladders a metric has no expectation for are scored and shown all the same.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from xgem_bench.data.dataset import Dataset
from xgem_bench.data.study import CHEXPERT_LABELS, Study
from xgem_bench.progress import quiet_logger
from xgem_bench.tasks import Modality, parse_task
from xgem_bench.validity.degradations import LADDERS

#: a ladder of 5 levels passes with rho 1.0 (monotone) or 0.9 (one neighbouring pair out of order)
MIN_RHO = 0.9
DEGRADES, IGNORES = "degrades", "ignores"
_IMAGE_FAULTS = {"blur": DEGRADES, "noise": DEGRADES, "intensity-drift": DEGRADES, "lateral-for-frontal": DEGRADES,
                 "findings-swapped": IGNORES}
#: the set-level image metrics beside FID (KID, precision of PRDC, FD-infinity, CMMD): realism, like FID
_FEATURE_SET_METRICS = ("kid-inception", "kid-raddino", "kid-dinov2", "prdc-inception", "prdc-raddino", "prdc-dinov2",
                        "fd-infinity-inception", "fd-infinity-dinov2", "cmmd-clip")
#: n-gram metrics that see word order (BLEU, ROUGE-L's longest common subsequence, METEOR's fragmentation penalty,
#: CIDEr-D's 4-grams): every wording change costs them, a harmless sentence reorder included
_WORDING = {"findings-deleted": DEGRADES, "negations-flipped": DEGRADES, "sentences-shuffled": DEGRADES,
            "word-dropout": DEGRADES, "other-report": DEGRADES}
EXPECTED: dict[str, dict[str, str]] = {
    "fid-inception": _IMAGE_FAULTS,
    "fid-xrv": _IMAGE_FAULTS,
    **{name: _IMAGE_FAULTS for name in _FEATURE_SET_METRICS},
    "pixel-mae": {**_IMAGE_FAULTS, "findings-swapped": DEGRADES},
    "xrv-classification": {"findings-swapped": DEGRADES, "lateral-for-frontal": DEGRADES},
    "bleu": _WORDING, "rouge": _WORDING, "meteor": _WORDING, "cider": _WORDING,
    # contextual embeddings: known to be weak on negation, so no expectation for flipped negations or reordering
    "bertscore": {"findings-deleted": DEGRADES, "word-dropout": DEGRADES, "other-report": DEGRADES},
    "token-f1": {"findings-deleted": DEGRADES, "negations-flipped": DEGRADES, "sentences-shuffled": IGNORES,
                 "word-dropout": DEGRADES, "other-report": DEGRADES},
    "chexpert-f1": {"findings-deleted": DEGRADES, "negations-flipped": DEGRADES, "sentences-shuffled": IGNORES,
                    "other-report": DEGRADES},
    "radgraph-f1": {"findings-deleted": DEGRADES, "word-dropout": DEGRADES, "other-report": DEGRADES},
    "ratescore": {"findings-deleted": DEGRADES, "other-report": DEGRADES},
    "hamming": {"mismatched-pairs": DEGRADES, "findings-swapped-joint": DEGRADES},
    "coherence-cosine": {"mismatched-pairs": DEGRADES},
}
#: the task whose output each kind of ladder stands for (the metrics are made for that task and output)
TASK_OF_KIND = {"image": ("L+T->F", Modality.FRONTAL), "text": ("F+L->T", Modality.REPORT),
                "joint": ("L->F+T", None)}


@dataclass
class LadderContext:
    """What degradations may use besides the studies: for the findings swap, the demo seed and donor rows."""

    demo_seed: int = 0
    donor_rows: list[dict] = field(default_factory=list)


def spearman(levels: Sequence[float], values: Sequence[float]) -> float:
    from scipy.stats import spearmanr
    values = np.asarray(values, float)
    if not np.isfinite(values).all() or np.ptp(values) == 0:
        return float("nan")
    return float(spearmanr(levels, values).statistic)


def _never_recovers(values: Sequence[float], bad_sign: float) -> bool:
    """Every step is worse or equal and the last level is worse than the first: a bounded metric that reaches its
    floor (PRDC precision 1 -> 0 -> 0) has tied levels, which pull Spearman's rho under MIN_RHO although it never
    moves the wrong way."""
    steps = bad_sign * np.diff(np.asarray(values, float))
    return bool(np.all(steps >= 0) and steps.sum() > 0)


def judge(metric_ladders: dict[str, dict[str, Any]], expected: dict[str, str], higher_is_better: bool) -> None:
    """Fill `expected`, `rho`, `pass`, `movement`, `relative_movement` of each ladder entry of one metric (in place)."""
    bad_sign = -1.0 if higher_is_better else 1.0
    for name, entry in metric_ladders.items():
        entry["expected"] = expected.get(name, "")
        entry["rho"] = spearman(entry["levels"], entry["values"])
        entry["movement"] = abs(entry["values"][-1] - entry["values"][0])
        entry["pass"] = (bool(bad_sign * entry["rho"] >= MIN_RHO - 1e-9 or _never_recovers(entry["values"], bad_sign))
                         if entry["expected"] == DEGRADES else None)
    followed = [e["movement"] for e in metric_ladders.values() if e["expected"] == DEGRADES and math.isfinite(
        e["movement"])]
    scale = max(followed, default=float("nan"))
    for entry in metric_ladders.values():
        entry["relative_movement"] = entry["movement"] / scale if scale and math.isfinite(scale) else float("nan")


def _donor_rows(studies: Sequence[Study]) -> list[dict]:
    """For each study, the planned row of another study whose drawn findings differ (for the findings swap)."""
    from xgem_bench.validity.degradations import _drawn, _rng
    order = _rng("findings-swapped", 1).permutation(len(studies))
    rows = []
    for i, study in enumerate(studies):
        donor = next((studies[j] for j in np.roll(order, -i) if _drawn(studies[j]) != _drawn(study)), None)
        if donor is None:
            raise ValueError("every study draws the same findings: the findings swap needs studies that differ")
        rows.append({"report": donor.report, **{n: donor.labels.get(n, float("nan")) for n in CHEXPERT_LABELS}})
    return rows


def _outputs_as_generated(kind: str, outputs) -> list[dict]:
    modality = TASK_OF_KIND[kind][1]
    if kind == "joint":
        return [{Modality.FRONTAL: image, Modality.REPORT: report} for image, report in outputs]
    return [{modality: output} for output in outputs]


def _climb(steps, made, result, studies, context, level0, score, progress) -> None:
    """Score every level of every ladder with the metrics of its kind (level 0 once per kind)."""
    from tqdm import tqdm

    from xgem_bench.metrics import MetricUnavailable
    for ladder, k in tqdm(steps, desc="validity ladders", unit="level", disable=not progress):
        active = [n for n in made if made[n][0].kind == ladder.kind and result["metrics"][n]["status"] == "ok"]
        if not active:
            continue
        generated = None if (k == 0 and all((n, ladder.kind) in level0 for n in active)) else \
            _outputs_as_generated(ladder.kind, ladder.apply(studies, ladder.levels[k], context))
        for name in active:
            entry = result["metrics"][name]["ladders"].setdefault(
                ladder.name, {"levels": list(ladder.levels), "values": []})
            try:
                value = level0[(name, ladder.kind)] if generated is None else score(name, ladder.kind, generated)
            except MetricUnavailable as error:
                result["metrics"][name].update(status="skipped", reason=str(error), ladders={})
                continue
            if k == 0:
                level0[(name, ladder.kind)] = value
            entry["values"].append(value)


def validate(dataset: str | Dataset = "demo", split: str = "test", limit: int | None = 60,
             metrics: Sequence[str] | None = None, ladders: Sequence[str] | None = None, device: str = "cpu",
             batch_size: int = 16, progress: bool = True, cache_dir=None) -> dict[str, Any]:
    """Run the ladders; returns the JSON-ready result (see the module doc and docs/metrics/validity.md)."""
    from xgem_bench import weights
    from xgem_bench.data import load_dataset
    from xgem_bench.features import FeatureService
    from xgem_bench.metrics import MetricContext, Sample, get_metric_class, metric_names
    from xgem_bench.metrics.demo_backbone import DEMO_BACKBONE_LABEL, DemoBackbone, is_demo_dataset, xrv_settings_for

    started = time.perf_counter()
    data = load_dataset(dataset)
    if not is_demo_dataset(data):
        raise ValueError(f"validate runs on the demo (its phantoms can be redrawn with other findings); "
                         f"{data.name!r} is not the demo")
    indices = data.indices(split)[:limit] if limit else data.indices(split)
    if len(indices) < 4:
        raise ValueError(f"validate needs at least 4 studies; split {split!r} gives {len(indices)}")
    studies = [data.load(int(i)) for i in indices]
    context = LadderContext(demo_seed=int(data.meta.get("seed", 0)), donor_rows=_donor_rows(studies))
    chosen = [ladder for ladder in LADDERS if ladders is None or ladder.name in ladders]
    unknown = set(ladders or ()) - {ladder.name for ladder in LADDERS}
    if unknown:
        raise ValueError(f"unknown ladder(s) {sorted(unknown)}; ladders: {', '.join(l.name for l in LADDERS)}")
    names = list(metrics) if metrics else [n for n in metric_names() if n in EXPECTED]
    result: dict[str, Any] = {"dataset": data.name, "split": split, "n_studies": len(studies), "min_rho": MIN_RHO,
                              "ladders": {l.name: {"kind": l.kind, "levels": list(l.levels), "unit": l.unit,
                                                   "description": l.description} for l in chosen},
                              "metrics": {}}
    made: dict[str, tuple] = {}  # metric name -> (class, settings)
    for name in names:
        cls = get_metric_class(name)
        settings = xrv_settings_for(data, cls, {})
        entry = result["metrics"][name] = {"kind": cls.kind, "primary": cls.primary,
                                           "higher_is_better": cls.higher_is_better, "status": "ok", "ladders": {}}
        reason = cls.unavailable_reason({**cls.default_settings(), **settings})
        if reason or not any(l.kind == cls.kind for l in chosen):
            entry.update(status="skipped", reason=reason or "no ladder of its kind was chosen")
            continue
        made[name] = (cls, settings)

    # one backbone instance per signature for every metric and level, and the features of images already seen
    # (level 0, the reference set, repeats across ladders) read back from the same cache the runner uses
    features = FeatureService(batch_size, Path(cache_dir or weights.cache_root()) / "features")

    def score(name: str, kind: str, generated: list[dict]) -> float:
        cls, settings = made[name]
        task, modality = TASK_OF_KIND[kind]
        metric = cls(MetricContext(task=parse_task(task), modality=modality, dataset=data, split=split,
                                   reference_indices=np.asarray(indices), cache_dir=cache_dir or weights.cache_root(),
                                   device=device, batch_size=batch_size, features=features), **settings)
        entry = result["metrics"][name]
        entry.setdefault("settings", metric.settings)
        entry.setdefault("signature", metric.signature)
        if isinstance(getattr(metric, "backbone", None), DemoBackbone):
            entry["backbone"] = DEMO_BACKBONE_LABEL
        metric.update([Sample(study, outputs) for study, outputs in zip(studies, generated)])
        value = float(metric.compute()[cls.primary])
        features.forget()  # rows kept by study key belong to this level's outputs
        return value

    if any(name.startswith("fid") for name in made):  # said once, instead of FID's warning at every level
        result["notes"] = [f"FID on {len(studies)} images per set (fewer than the feature dimension): biased and "
                           "noisy; the ladder compares levels at equal N"]
    level0: dict[tuple[str, str], float] = {}  # level 0 is the real output on every ladder of a kind
    steps = [(ladder, k) for ladder in chosen for k in range(len(ladder.levels))]
    with quiet_logger("xgem_bench.metrics.fid"):
        _climb(steps, made, result, studies, context, level0, score, progress)
    for name, entry in result["metrics"].items():
        if entry["status"] == "ok":
            judge(entry["ladders"], EXPECTED.get(name, {}), entry["higher_is_better"])
    checks = [e["pass"] for m in result["metrics"].values() for e in m["ladders"].values() if e["pass"] is not None]
    result["n_checks"], result["n_passed"] = len(checks), int(sum(checks))
    result["all_pass"] = bool(checks) and all(checks)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def format_validity_table(result: dict[str, Any]) -> str:
    """One line per (metric, ladder): expectation, values by level, rho and the verdict."""
    header = ["metric", "ladder", "expected", "values by level", "rho", "verdict"]
    rows = []
    for name, metric in result["metrics"].items():
        if metric["status"] != "ok":
            rows.append([name, "-", "-", f"skipped: {metric['reason']}"[:90], "", ""])
            continue
        label = name + (" [demo backbone]" if metric.get("backbone") else "")
        for ladder, e in metric["ladders"].items():
            if e["pass"] is not None:
                verdict = "pass" if e["pass"] else "FAIL"
            elif e["expected"] == IGNORES:
                verdict = f"moves {e['relative_movement']:.0%} of its largest response"
            else:
                verdict = ""
            values = " ".join(f"{v:.4g}" for v in e["values"])
            rows.append([label, ladder, e["expected"] or "-", values, f"{e['rho']:+.2f}", verdict])
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines += result.get("notes", [])
    lines.append(f"{result['n_passed']}/{result['n_checks']} expected monotonicities hold (Spearman rho >= "
                 f"{result['min_rho']} in the metric's worse direction); {result['n_studies']} studies, "
                 f"{result['seconds']} s")
    return "\n".join(lines)
