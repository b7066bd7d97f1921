"""CheXpert-labeler F1 of generated reports (paper Table 5).

Both the generated report and the study's reference report (`study.report`, the impression) are labelled with
xgem-bench's CheXpert labeler (`xgem_bench.labelers`); the reference labels then act as ground truth and the generated
labels as predictions, one binary decision per (study, observation).

Settings (all recorded in the signature):

* ``uncertain`` - how a -1 label counts, on both sides: ``positive`` (default), ``negative``, or ``ignore`` (the
  (study, observation) pair is left out when either side is -1).
* ``blank`` - a blank reference label (observation not mentioned): ``negative`` (default) or ``ignore`` (the pair is
  left out, so each class is scored only on studies whose reference mentions it, like the image metric's Table 1
  counts). A blank generated label is always negative: a prediction must be made.
* ``average_over`` - the classes the micro/macro/weighted averages pool: ``all`` (the 14 CheXpert observations,
  default) or ``paper`` (the ten pathologies of Table 5 plus No Finding). Per-class F1 is reported for all 14.
* ``reference`` - ``report`` (label `study.report`, default) or ``study-labels`` (use the dataset's own CheXpert
  labels, `study.labels`, e.g. MIMIC-CXR's official file).
* ``labeler``, ``labeler_engine`` - the labeler's rule version and negation/uncertainty engine
  (`xgem_bench.labelers.LABELER_SETTINGS`); only the built-in ones are accepted, so results never mix versions.

F1 per class is 2TP / (2TP + FP + FN), 0 when the class has no positive on either side (sklearn's `zero_division=0`),
NaN when the ignore policies leave it no (study, class) pair at all (such a class is left out of the averages);
micro pools the counts of the averaged classes; macro is their plain mean; weighted weighs each class by its number
of reference positives (sklearn's "support"). docs/metrics/chexpert.md explains the defaults.

Per study, the raw labels are recorded as ``gen/<observation>`` and ``ref/<observation>`` (1, 0, -1, NaN = blank) so a
bootstrap can recompute every value with `f1_scores`, plus ``example_f1`` (F1 over that study's averaged classes).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from xgem_bench.data.study import CHEXPERT_LABELS, PAPER_PATHOLOGIES
from xgem_bench.metrics.base import Metric, MetricContext, Sample

PAPER_CLASSES = PAPER_PATHOLOGIES + ("No Finding",)
SETTINGS = {"uncertain": ("positive", "negative", "ignore"), "blank": ("negative", "ignore"),
            "average_over": ("all", "paper"), "reference": ("report", "study-labels")}


def binarize(gen: np.ndarray, ref: np.ndarray, uncertain: str = "positive",
             blank: str = "negative") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pred, truth, counted) boolean arrays of the labels' shape under the uncertain/blank policies."""
    gen, ref = np.asarray(gen, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    counted = np.ones(ref.shape, dtype=bool)
    if blank == "ignore":
        counted &= ~np.isnan(ref)
    if uncertain == "ignore":
        counted &= (gen != -1) & (ref != -1)
    positive = (1.0, -1.0) if uncertain == "positive" else (1.0,)
    return np.isin(gen, positive), np.isin(ref, positive), counted


def _f1(tp, fp, fn):
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(denominator), where=denominator > 0)


def f1_scores(gen: np.ndarray, ref: np.ndarray, uncertain: str = "positive", blank: str = "negative",
              average_over: str = "all") -> dict[str, float]:
    """All values of the metric from (n, 14) label arrays in CHEXPERT_LABELS order (1 / 0 / -1 / NaN)."""
    pred, truth, counted = binarize(gen, ref, uncertain, blank)
    tp = (pred & truth & counted).sum(0)
    fp = (pred & ~truth & counted).sum(0)
    fn = (~pred & truth & counted).sum(0)
    n = counted.sum(0)
    per_class = np.where(n > 0, _f1(tp, fp, fn), np.nan)  # a class with no pair left (ignore policies) has no F1
    values: dict[str, float] = {}
    for j, name in enumerate(CHEXPERT_LABELS):
        values[f"f1/{name}"] = float(per_class[j])
        values[f"support/{name}"] = float(tp[j] + fn[j])
        values[f"n/{name}"] = float(n[j])
    names = CHEXPERT_LABELS if average_over == "all" else PAPER_CLASSES
    cols = [j for j in (CHEXPERT_LABELS.index(name) for name in names) if n[j] > 0]
    if not cols:
        return {**values, "f1_micro": float("nan"), "f1_macro": float("nan"), "f1_weighted": float("nan")}
    support = (tp + fn)[cols]
    values["f1_micro"] = float(_f1(tp[cols].sum(), fp[cols].sum(), fn[cols].sum()))
    values["f1_macro"] = float(per_class[cols].mean())
    values["f1_weighted"] = float((per_class[cols] * support).sum() / support.sum()) if support.sum() else 0.0
    return values


#: example-level F1 of a study where neither side has a positive among the averaged classes (the convention of
#: sklearn's `f1_score(average="samples", zero_division=1.0)`: agreeing on "nothing" is a perfect match)
EXAMPLE_F1_NO_POSITIVE = 1.0


def example_f1(gen_row: np.ndarray, ref_row: np.ndarray, settings: dict[str, Any]) -> float:
    """F1 of one study's label set over the averaged classes (`EXAMPLE_F1_NO_POSITIVE` when both sides have no
    positive)."""
    pred, truth, counted = binarize(gen_row, ref_row, settings["uncertain"], settings["blank"])
    names = CHEXPERT_LABELS if settings["average_over"] == "all" else PAPER_CLASSES
    cols = [CHEXPERT_LABELS.index(name) for name in names]
    pred, truth, counted = pred[cols] & counted[cols], truth[cols] & counted[cols], counted[cols]
    tp, fp, fn = (pred & truth).sum(), (pred & ~truth).sum(), (~pred & truth).sum()
    return EXAMPLE_F1_NO_POSITIVE if tp + fp + fn == 0 else float(2 * tp / (2 * tp + fp + fn))


def study_label_row(labels: dict[str, float]) -> np.ndarray:
    row = np.full(len(CHEXPERT_LABELS), np.nan)
    for j, name in enumerate(CHEXPERT_LABELS):
        value = labels.get(name)
        if value is not None and not (isinstance(value, float) and np.isnan(value)):
            if value not in (1, 0, -1):
                raise ValueError(f"label {name!r} has value {value!r}; expected 1, 0, -1 or blank")
            row[j] = float(value)
    return row


class CheXpertF1(Metric):
    name = "chexpert-f1"
    kind = "text"
    higher_is_better = True
    primary = "f1_micro"

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        from xgem_bench.labelers import LABELER_SETTINGS
        return {"uncertain": "positive", "blank": "negative", "average_over": "all", "reference": "report",
                **LABELER_SETTINGS}

    @classmethod
    def allowed_settings(cls) -> dict[str, tuple]:
        return dict(SETTINGS)

    def __init__(self, context: MetricContext, **settings: Any):
        super().__init__(context, **settings)
        from xgem_bench.labelers import check_labeler_settings
        check_labeler_settings(self.settings, self.name)
        self.add_state("gen_labels", [], "extend")
        self.add_state("ref_labels", [], "extend")
        self.add_state("n_empty_generated", 0, "sum")
        self.add_state("n_empty_reference", 0, "sum")

    def update(self, samples: Sequence[Sample]) -> None:
        from xgem_bench.labelers import label_reports

        generated = [self.generated_of(s) or "" for s in samples]
        gen = label_reports(generated)
        if self.settings["reference"] == "report":
            references = [s.study.report or "" for s in samples]
            ref = label_reports(references)
            self.n_empty_reference += sum(1 for r in references if not r.strip())
        else:
            ref = np.stack([study_label_row(s.study.labels) for s in samples]) if samples else gen[:0]
        self.n_empty_generated += sum(1 for g in generated if not g.strip())
        for sample, g, r in zip(samples, gen, ref):
            self.gen_labels.append(g)
            self.ref_labels.append(r)
            values = {f"gen/{name}": float(v) for name, v in zip(CHEXPERT_LABELS, g)}
            values.update({f"ref/{name}": float(v) for name, v in zip(CHEXPERT_LABELS, r)})
            self.record(sample.study.study_id, example_f1=example_f1(g, r, self.settings), **values)

    def compute(self) -> dict[str, float]:
        n = len(self.gen_labels)
        empty = np.zeros((0, len(CHEXPERT_LABELS)))
        gen = np.stack(self.gen_labels) if n else empty
        ref = np.stack(self.ref_labels) if n else empty
        values = f1_scores(gen, ref, self.settings["uncertain"], self.settings["blank"], self.settings["average_over"])
        examples = [v["example_f1"] for _, v in self.per_sample_rows]
        values["example_f1"] = float(np.mean(examples)) if examples else float("nan")
        values.update(n=float(n), n_empty_generated=float(self.n_empty_generated),
                      n_empty_reference=float(self.n_empty_reference))
        return values

    @classmethod
    def resampleable(cls, stored, key: str):
        """Label F1 of resampled studies from the per-study labels of generated and reference reports."""
        settings = stored.settings
        columns = [f"{side}/{name}" for side in ("gen", "ref") for name in CHEXPERT_LABELS]
        if key == "example_f1" or any(c not in stored.per_sample() for c in columns):
            return super().resampleable(stored, key)
        k = len(CHEXPERT_LABELS)

        def statistic(rows: np.ndarray) -> float:
            return f1_scores(rows[:, :k], rows[:, k:], settings["uncertain"], settings["blank"],
                             settings["average_over"])[key]

        return stored.rows(columns, statistic, "CheXpert-label F1 from per-study generated and reference labels")
