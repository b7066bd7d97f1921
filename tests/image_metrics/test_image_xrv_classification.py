"""XRV classification of generated X-rays: label policies, AUC/F1 against sklearn and hand counts, the XRV outputs."""
import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, roc_auc_score

from xgem_bench.data.dataset import InMemoryDataset
from xgem_bench.data.study import PAPER_PATHOLOGIES, Study
from xgem_bench.metrics import MetricContext, MetricUnavailable, Sample, get_metric_class
from xgem_bench.metrics.xrv_classification import (XRV_NAME, classification_scores, ground_truth,
                                                     xrv_output_indices)
from xgem_bench.tasks import Modality, parse_task


def test_ground_truth_policies():
    labels = {"Atelectasis": 1.0, "Cardiomegaly": 0.0, "Edema": -1.0}  # the other seven are blank
    default = ground_truth(labels)
    assert default[0] == 1 and default[1] == 0 and np.isnan(default[3]) and np.isnan(default[2])
    assert ground_truth(labels, uncertain="positive")[3] == 1
    assert ground_truth(labels, uncertain="negative")[3] == 0
    assert ground_truth(labels, blank="negative")[2] == 0
    with pytest.raises(ValueError, match="expected 1, 0, -1"):
        ground_truth({"Edema": 2})


def test_healthy_policy_equals_torchxrayvision_mimic_loader(tmp_path):
    """`healthy` (default) against torchxrayvision's own MIMIC_Dataset on the same label table (tiny CSVs)."""
    import pandas as pd
    import torchxrayvision as xrv

    from xgem_bench.data.study import CHEXPERT_LABELS
    rng = np.random.default_rng(0)
    n = 60
    table = pd.DataFrame({"subject_id": np.arange(n), "study_id": np.arange(n) + 100})
    for label in CHEXPERT_LABELS:
        table[label] = rng.choice([1.0, 0.0, -1.0, np.nan], size=n)
    table["No Finding"] = rng.choice([1.0, np.nan], size=n)  # CheXpert: No Finding is 1 or blank
    meta = pd.DataFrame({"subject_id": np.arange(n), "study_id": np.arange(n) + 100, "ViewPosition": "PA",
                         "dicom_id": [f"d{i}" for i in range(n)], "StudyDate": 20200101, "StudyTime": 1.0})
    table.to_csv(tmp_path / "labels.csv", index=False)
    meta.to_csv(tmp_path / "meta.csv", index=False)
    loader = xrv.datasets.MIMIC_Dataset(imgpath=str(tmp_path), csvpath=str(tmp_path / "labels.csv"),
                                        metacsvpath=str(tmp_path / "meta.csv"), views=["PA"], unique_patients=False)
    columns = [loader.pathologies.index(XRV_NAME[label]) for label in PAPER_PATHOLOGIES]
    expected = loader.labels[:, columns]
    records = table.to_dict("records")
    ours = np.array([ground_truth({k: v for k, v in r.items() if k in CHEXPERT_LABELS and not np.isnan(v)})
                     for r in records])
    np.testing.assert_array_equal(ours, expected)
    healthy = table["No Finding"].to_numpy() == 1
    explicit = np.array([ground_truth({k: v for k, v in r.items() if k in CHEXPERT_LABELS and not np.isnan(v)},
                                      label_policy="explicit") for r in records])
    # `explicit` differs exactly on healthy studies whose own columns are not all 0
    assert not np.array_equal(explicit[healthy], expected[healthy])
    np.testing.assert_array_equal(explicit[~healthy], expected[~healthy])


def test_label_mapping_is_by_name():
    assert XRV_NAME["Pleural Effusion"] == "Effusion"
    assert all(XRV_NAME[k] == k for k in PAPER_PATHOLOGIES if k != "Pleural Effusion")
    mimic = ["Atelectasis", "Consolidation", "", "Pneumothorax", "Edema", "", "", "Effusion", "Pneumonia", "",
             "Cardiomegaly", "", "", "", "Lung Lesion", "Fracture", "Lung Opacity", "Enlarged Cardiomediastinum"]
    assert xrv_output_indices(mimic) == [0, 10, 1, 4, 17, 14, 16, 7, 8, 3]
    with pytest.raises(ValueError, match="no output for"):
        xrv_output_indices(mimic[:10])


def test_scores_by_hand_and_against_sklearn():
    k = len(PAPER_PATHOLOGIES)
    y = np.full((6, k), np.nan)
    s = np.zeros((6, k))
    # class 0: perfectly separated -> AUC 1, F1 1
    y[:, 0], s[:, 0] = [1, 1, 0, 0, 0, np.nan], [0.9, 0.6, 0.1, 0.4, 0.2, 0.99]
    # class 1: positive 0.3 ranks below negatives 0.7 and 0.4 -> AUC 6/8; at 0.5: TP 1, FP 1, FN 1 -> F1 0.5
    y[:, 1], s[:, 1] = [1, 1, 0, 0, 0, 0], [0.8, 0.3, 0.7, 0.2, 0.1, 0.4]
    # class 2: only negatives -> no AUC, left out of the averages
    y[:4, 2] = 0
    values = classification_scores(y, s)
    assert values["auc/Atelectasis"] == 1.0 and values["f1/Atelectasis"] == 1.0
    assert values["auc/Cardiomegaly"] == pytest.approx(0.75) and values["f1/Cardiomegaly"] == pytest.approx(0.5)
    assert np.isnan(values["auc/Consolidation"]) and values["n/Consolidation"] == 4
    assert values["n/Atelectasis"] == 5 and values["n_pos/Atelectasis"] == 2 and values["n_neg/Atelectasis"] == 3
    assert values["auc_macro"] == pytest.approx((1 + 0.75) / 2)
    assert values["auc_weighted"] == pytest.approx((2 * 1 + 2 * 0.75) / 4)
    assert values["f1_macro"] == pytest.approx(0.75)
    # micro: pooled (study, class) entries of the scored classes, as sklearn sees them
    mask = ~np.isnan(y[:, :2])
    truth, score = y[:, :2][mask].astype(int), s[:, :2][mask]
    assert values["auc_micro"] == pytest.approx(roc_auc_score(truth, score))
    assert values["f1_micro"] == pytest.approx(f1_score(truth, score >= 0.5))


def make_dataset(make_images):
    rng = np.random.default_rng(0)
    studies = []
    for i, image in enumerate(make_images(4, size=224)):
        labels = {label: float(rng.choice([1, 0, -1])) for label in PAPER_PATHOLOGIES if rng.random() < 0.8}
        labels["Atelectasis"] = float(i % 2)  # both classes present for at least one label
        studies.append(Study(study_id=f"s{i}", frontal=image, labels=labels, split="test"))
    return InMemoryDataset(studies, name="t")


def context(dataset, modality=Modality.FRONTAL):
    return MetricContext(task=parse_task("L+T->F"), modality=modality, dataset=dataset,
                         reference_indices=np.arange(len(dataset)), batch_size=3)


def test_metric_uses_torchxrayvision_outputs_with_op_threshs(xrv_weights, make_images):
    import torchxrayvision as xrv
    folder = xrv_weights("mimic_nb")  # '' slots in its label list: outputs are found by name
    dataset = make_dataset(make_images)
    metric = get_metric_class("xrv-classification")(context(dataset), variant="mimic_nb")
    samples = [Sample(dataset.load(i), {Modality.FRONTAL: dataset.load(i).frontal}) for i in range(4)]
    metric.update(samples[:2])
    metric.update(samples[2:])
    values = metric.compute()

    upstream = xrv.models.DenseNet(weights="densenet121-res224-mimic_nb", cache_dir=str(folder)).eval()
    # the default quantize=uint8: torchxrayvision's recipe on the images as 8-bit files
    as_png = [np.rint(np.clip(s.frontal, 0, 1) * 255).astype(np.uint8) for s in dataset._studies]
    x = torch.stack([torch.from_numpy(xrv.datasets.normalize(image, 255)[None]).float() for image in as_png])
    with torch.no_grad():
        outputs = upstream(x).numpy()  # sigmoid + op_norm: 0.5 is the operating point
    index = [list(upstream.pathologies).index(XRV_NAME[label]) for label in PAPER_PATHOLOGIES]
    per_sample = metric.per_sample()
    for i in range(4):
        got = [per_sample[f"s{i}"][f"p/{label}"] for label in PAPER_PATHOLOGIES]
        np.testing.assert_allclose(got, outputs[i, index], rtol=1e-4, atol=1e-5)
        truth = [per_sample[f"s{i}"][f"y/{label}"] for label in PAPER_PATHOLOGIES]
        np.testing.assert_array_equal(truth, ground_truth(dataset._studies[i].labels))
    expected = classification_scores(np.array([ground_truth(s.labels) for s in dataset._studies]), outputs[:, index])
    for key, value in expected.items():
        assert values[key] == pytest.approx(value, rel=1e-4, nan_ok=True)
    raw = [s.labels.get("Edema") for s in dataset._studies]
    assert values["n_uncertain/Edema"] == raw.count(-1.0) and values["n_blank/Edema"] == raw.count(None)
    assert values["n_studies"] == 4 and "auc_macro" in values


def test_lateral_outputs_are_not_scored_by_default(xrv_weights, make_images):
    xrv_weights("all")
    dataset = make_dataset(make_images)
    metric = get_metric_class("xrv-classification")(context(dataset, Modality.LATERAL))
    metric.update([Sample(dataset.load(0), {Modality.LATERAL: dataset.load(0).frontal})])
    with pytest.raises(MetricUnavailable, match="views=F,L"):
        metric.compute()


def test_settings_are_checked_and_weights_reported():
    cls = get_metric_class("xrv-classification")
    assert "weights fetch xrv-densenet121-res224-all" in cls.unavailable_reason(cls.default_settings())
    dataset = InMemoryDataset([Study(study_id="a")], name="t")
    with pytest.raises(ValueError, match="uncertain"):
        cls(context(dataset), uncertain="maybe")
    with pytest.raises(ValueError, match="threshold"):
        cls(context(dataset), threshold="0.3")
