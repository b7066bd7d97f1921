"""chexpert-f1: values against sklearn on the same binary decisions, policies, per-study records, bad input."""
import numpy as np
import pytest
from sklearn.metrics import f1_score

from xgem_bench.data.study import CHEXPERT_LABELS, Study
from xgem_bench.metrics import MetricContext, Sample, get_metric_class
from xgem_bench.metrics.chexpert_f1 import PAPER_CLASSES, binarize, f1_scores
from xgem_bench.tasks import Modality, parse_task


def _random_labels(rng, n):
    values = rng.choice([1.0, 0.0, -1.0, np.nan], size=(n, 14), p=[0.25, 0.3, 0.15, 0.3])
    values[:, CHEXPERT_LABELS.index("Fracture")] = np.nan  # a class with no positive anywhere
    return values


@pytest.mark.parametrize("uncertain", ["positive", "negative", "ignore"])
@pytest.mark.parametrize("blank", ["negative", "ignore"])
@pytest.mark.parametrize("average_over", ["all", "paper"])
def test_against_sklearn(uncertain, blank, average_over):
    rng = np.random.default_rng(0)
    gen, ref = _random_labels(rng, 300), _random_labels(rng, 300)
    values = f1_scores(gen, ref, uncertain, blank, average_over)
    pred, truth, counted = binarize(gen, ref, uncertain, blank)
    names = CHEXPERT_LABELS if average_over == "all" else PAPER_CLASSES
    per_class, supports = [], []
    for name in names:
        j = CHEXPERT_LABELS.index(name)
        keep = counted[:, j]
        if not keep.any():  # blank=ignore and a class never mentioned in the references: no F1, not averaged
            assert np.isnan(values[f"f1/{name}"])
            continue
        expected = f1_score(truth[keep, j], pred[keep, j], zero_division=0)
        assert values[f"f1/{name}"] == pytest.approx(expected)
        per_class.append(expected)
        supports.append(truth[keep, j].sum())
    cols = [CHEXPERT_LABELS.index(n) for n in names if counted[:, CHEXPERT_LABELS.index(n)].any()]
    pooled = counted[:, cols]
    assert values["f1_micro"] == pytest.approx(f1_score(truth[:, cols][pooled], pred[:, cols][pooled]))
    assert values["f1_macro"] == pytest.approx(np.mean(per_class))
    assert values["f1_weighted"] == pytest.approx(np.average(per_class, weights=supports))
    if blank == "negative" and uncertain != "ignore":
        # no pair dropped: sklearn's own multilabel averages apply directly
        for average in ("micro", "macro", "weighted"):
            assert values[f"f1_{average}"] == pytest.approx(
                f1_score(truth[:, cols], pred[:, cols], average=average, zero_division=0))


def test_uncertain_policies_by_hand():
    nan = np.nan
    gen = np.full((3, 14), nan)
    ref = np.full((3, 14), nan)
    j = CHEXPERT_LABELS.index("Edema")
    gen[:, j] = [-1, 1, 0]
    ref[:, j] = [1, -1, nan]
    assert f1_scores(gen, ref, "positive")["f1/Edema"] == 1.0  # tp=2
    assert f1_scores(gen, ref, "negative")["f1/Edema"] == 0.0  # fp=1 (row 2), fn=1 (row 1)
    assert f1_scores(gen, ref, "ignore")["n/Edema"] == 1.0  # only row 3 left
    assert f1_scores(gen, ref, "ignore", "ignore")["n/Edema"] == 0.0


def _sample(sid, reference, generated):
    return Sample(Study(study_id=sid, report=reference), {Modality.REPORT: generated})


def test_metric_end_to_end_records_and_empty_reports():
    cls = get_metric_class("chexpert-f1")
    context = MetricContext(task=parse_task("F->T"), modality=Modality.REPORT)
    metric = cls(context)
    samples = [
        _sample("a", "Small left pleural effusion. No pneumothorax.", "Left pleural effusion. No pneumothorax."),
        _sample("b", "Mild cardiomegaly.", "Heart size is normal."),
        _sample("c", "No acute cardiopulmonary process.", ""),
        _sample("d", "", "Possible pneumonia."),
    ]
    metric.update(samples[:2])
    other = cls(context)
    other.update(samples[2:])
    metric.merge_state(other.state_dict())
    values = metric.compute()
    assert values["n"] == 4 and values["n_empty_generated"] == 1 and values["n_empty_reference"] == 1
    assert values["f1/Pleural Effusion"] == 1.0 and values["f1/Cardiomegaly"] == 0.0
    # No Finding: ref positive for c (text) and d (empty); gen positive for b ("normal" heart) and c (empty)
    assert values["f1/No Finding"] == pytest.approx(2 * 1 / (2 * 1 + 1 + 1))
    per_sample = metric.per_sample()
    assert set(per_sample) == {"a", "b", "c", "d"}
    assert per_sample["a"]["gen/Pleural Effusion"] == 1 and per_sample["a"]["ref/Pneumothorax"] == 0
    assert np.isnan(per_sample["b"]["gen/Edema"])
    assert per_sample["a"]["example_f1"] == 1.0
    # the per-study label rows give back every value (what a bootstrap resamples)
    gen = np.array([[per_sample[s][f"gen/{n}"] for n in CHEXPERT_LABELS] for s in "abcd"])
    ref = np.array([[per_sample[s][f"ref/{n}"] for n in CHEXPERT_LABELS] for s in "abcd"])
    assert f1_scores(gen, ref)["f1_micro"] == values["f1_micro"]
    assert "uncertain:positive" in metric.signature


def test_study_labels_reference_and_bad_settings():
    cls = get_metric_class("chexpert-f1")
    context = MetricContext(task=parse_task("F->T"), modality=Modality.REPORT)
    metric = cls(context, reference="study-labels")
    study = Study(study_id="s", report="ignored", labels={"Edema": 1.0, "Cardiomegaly": -1})
    metric.update([Sample(study, {Modality.REPORT: "Mild pulmonary edema."})])
    assert metric.compute()["f1/Edema"] == 1.0
    with pytest.raises(ValueError, match="uncertain"):
        cls(context, uncertain="maybe")
    with pytest.raises(ValueError, match="no setting"):
        cls(context, threshold=1)
    # the labeler version and engine are recorded, and results of another labeler are refused, not silently mixed
    assert "labeler:xgem-chexpert-rules-2" in metric.signature and "labeler_engine:lexical-scope" in metric.signature
    with pytest.raises(ValueError, match="xgem-chexpert-rules-2"):
        cls(context, labeler="xgem-chexpert-rules-1")
    with pytest.raises(ValueError, match="labeler_engine"):
        cls(context, labeler_engine="negbio")
    bad = cls(context, reference="study-labels")
    with pytest.raises(ValueError, match="expected 1, 0, -1"):
        bad.update([Sample(Study(study_id="x", labels={"Edema": 2}), {Modality.REPORT: "x"})])
