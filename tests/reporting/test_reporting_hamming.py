"""Hamming coherence: hand-made label sets, the explicit label mapping, and the metric end to end with a tiny XRV."""
import numpy as np
import pytest

from xgem_bench.data.study import CHEXPERT_LABELS, PAPER_PATHOLOGIES, Study
from xgem_bench.metrics import MetricContext, Sample, applies_to, get_metric_class
from xgem_bench.metrics.hamming import (COMMON_LABELS, HammingCoherence, hamming_distances, histogram,
                                        image_labels_binary, report_labels_binary)
from xgem_bench.tasks import Modality, parse_task


def test_hamming_on_hand_made_label_sets():
    a = np.array([[0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 1, 0]])
    b = np.array([[0, 0, 0, 0], [1, 0, 0, 1], [0, 0, 0, 0], [0, 1, 0, 1]])
    assert hamming_distances(a, b).tolist() == [0, 2, 4, 4]
    assert histogram(np.array([0, 0, 2, 10])).tolist() == [2, 0, 1] + [0] * 7 + [1]
    with pytest.raises(ValueError, match="binary"):
        hamming_distances(np.array([[0, -1]]), np.array([[0, 1]]))
    with pytest.raises(ValueError, match="same"):
        hamming_distances(np.zeros((2, 3)), np.zeros((2, 4)))


def test_common_label_mapping_is_the_ten_paper_pathologies():
    from xgem_bench.metrics.xrv_classification import XRV_NAME
    assert COMMON_LABELS == PAPER_PATHOLOGIES and len(COMMON_LABELS) == 10
    assert [XRV_NAME[label] for label in COMMON_LABELS if XRV_NAME[label] != label] == ["Effusion"]


def test_report_labels_policies():
    raw = np.full((1, len(CHEXPERT_LABELS)), np.nan)
    raw[0, CHEXPERT_LABELS.index("Cardiomegaly")] = 1
    raw[0, CHEXPERT_LABELS.index("Edema")] = -1
    raw[0, CHEXPERT_LABELS.index("Pneumothorax")] = 0
    raw[0, CHEXPERT_LABELS.index("Support Devices")] = 1  # outside the common set
    raw[0, CHEXPERT_LABELS.index("No Finding")] = 1
    positive = dict(zip(COMMON_LABELS, report_labels_binary(raw, "positive")[0]))
    negative = dict(zip(COMMON_LABELS, report_labels_binary(raw, "negative")[0]))
    assert {k for k, v in positive.items() if v} == {"Cardiomegaly", "Edema"}
    assert {k for k, v in negative.items() if v} == {"Cardiomegaly"}
    assert image_labels_binary(np.array([[0.49, 0.5, 0.9]])).tolist() == [[0, 1, 1]]
    with pytest.raises(ValueError, match="uncertain"):
        report_labels_binary(raw, "ignore")


def test_applies_only_to_joint_tasks_with_frontal_and_report():
    cls = get_metric_class("hamming")
    assert applies_to(cls, parse_task("L->F+T")) == [None]
    assert applies_to(cls, parse_task("T->F+L")) == []
    assert applies_to(cls, parse_task("F->L+T")) == []
    assert applies_to(cls, parse_task("L->F")) == []


def test_metric_end_to_end_equals_torchxrayvision_and_the_labeler(tiny_xrv):
    import torch
    import torchxrayvision as xrv

    from xgem_bench import weights
    from xgem_bench.labelers import label_reports
    assert HammingCoherence.unavailable_reason({}) is None
    rng = np.random.default_rng(0)
    reports = ["Moderate cardiomegaly. Small left pleural effusion.", "No acute cardiopulmonary process.",
               "Possible right lower lobe pneumonia.", "No pneumothorax or effusion.", ""]
    # 224x224: the network's own resolution, so no resize convention enters the comparison
    studies = [Study(f"s{i}", frontal=rng.random((224, 224), dtype=np.float32), report="x") for i in range(5)]
    samples = [Sample(s, {Modality.FRONTAL: s.frontal, Modality.REPORT: r}) for s, r in zip(studies, reports)]
    metric = HammingCoherence(MetricContext(task=parse_task("L->F+T"), modality=None, batch_size=2))
    metric.update(samples)
    values = metric.compute()
    # the image labels from torchxrayvision's own model on the installed file, with its documented [-1024, 1024] input
    folder = weights.get("xrv-densenet121-res224-all").path.parent
    upstream = xrv.models.DenseNet(weights="densenet121-res224-all", cache_dir=str(folder)).eval()
    x = torch.stack([torch.from_numpy(xrv.datasets.normalize(s.frontal, 1.0)[None]) for s in studies]).float()
    with torch.no_grad():
        probabilities = upstream(x).numpy()
    names = list(upstream.pathologies)
    index = [names.index("Effusion" if label == "Pleural Effusion" else label) for label in COMMON_LABELS]
    image = (probabilities[:, index] >= 0.5).astype(int)
    assert 0 < image.sum() < image.size  # both outcomes occur, so a flipped threshold would show
    raw = label_reports(reports)[:, [CHEXPERT_LABELS.index(label) for label in COMMON_LABELS]]
    text = ((raw == 1) | (raw == -1)).astype(int)
    expected = (image != text).sum(1)
    assert [metric.per_sample()[f"s{i}"]["hamming"] for i in range(5)] == expected.tolist()
    assert values["hamming"] == pytest.approx(expected.mean())
    assert values["at_zero"] == pytest.approx(np.mean(expected == 0))
    assert sum(values[f"count/{d}"] for d in range(11)) == 5
    with pytest.raises(ValueError, match="does not output T"):
        HammingCoherence(MetricContext(task=parse_task("T->F+L"), modality=None))


def test_unavailable_without_xrv_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "empty-home"))
    reason = HammingCoherence.unavailable_reason({})
    assert reason and "xrv-densenet121-res224-all" in reason and "xgem-bench weights" in reason


def test_hamming_values_resample_from_per_study_rows(tmp_path):
    from reporting_fixtures import make_run

    from xgem_bench import recompute, stats
    distances = np.array([0, 0, 1, 2, 0, 3, 1, 0, 0, 1])
    rows = {f"s{i}": {"hamming": float(d), "at_zero": float(d == 0)} for i, d in enumerate(distances)}
    values = {"hamming": distances.mean(), "at_zero": np.mean(distances == 0)}
    run = make_run(tmp_path, "h", "L->F+T", {"m": {"metrics": {"hamming/joint": (values, rows, False)}}})
    record = run["models"]["m"]["metrics"]["hamming/joint"]
    for key in ("hamming", "at_zero"):
        ci = stats.bootstrap_ci(recompute.run_resampleable(run, "m", record, key), n_resamples=200)
        assert ci.low <= values[key] <= ci.high
