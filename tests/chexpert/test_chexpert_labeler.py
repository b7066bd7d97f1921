"""The CheXpert labeler: exact reproduction of chexpert-labeler's sample, targeted sentences per rule, bad input."""
import csv
import time
from pathlib import Path

import numpy as np
import pytest

from xgem_bench.data.study import CHEXPERT_LABELS
from xgem_bench.labelers import CheXpertLabeler, label_dataframe, label_reports
from xgem_bench.labelers.chexpert import _resolve, clean, default_labeler

HERE = Path(__file__).parent


def _targeted_rows():
    with open(HERE / "chexpert_targeted.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t"))
    return [pytest.param(r["report"], r["observation"], r["expected"], id=f"{r['family']}:{r['report'][:40]}")
            for r in rows]


def _value(v: float) -> str:
    return "blank" if np.isnan(v) else str(int(v))


def test_sample_reports_reproduce_labeled_reports_exactly(tmp_path):
    """chexpert-labeler's own example (MIT, copied from the rule repository), byte for byte through the CLI."""
    from typer.testing import CliRunner
    from xgem_bench.cli import app

    out = tmp_path / "labels.csv"
    result = CliRunner().invoke(app, ["label", str(HERE / "sample_reports.csv"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == (HERE / "labeled_reports.csv").read_bytes()


@pytest.mark.parametrize("report, observation, expected", _targeted_rows())
def test_targeted_sentence(report, observation, expected):
    labels = label_reports([report])[0]
    mentions = [(m.observation, m.text, m.value, m.reason) for m in default_labeler().mentions(report)]
    assert _value(labels[CHEXPERT_LABELS.index(observation)]) == expected, mentions


def test_rules_are_bundled_in_the_package():
    from importlib import resources
    rules = resources.files("xgem_bench.labelers") / "chexpert_rules"
    assert (rules / "LICENSE").read_text().startswith("MIT License")
    assert (rules / "phrases" / "mention" / "cardiomegaly.txt").is_file()
    labeler = CheXpertLabeler()
    assert set(labeler.mention_phrases) == set(CHEXPERT_LABELS)


def test_generated_positional_unmentions_follow_the_original():
    unmentions = {p.text for p in default_labeler().unmention_phrases["Cardiomegaly"]}
    # 12 positional prefixes x the 7 mention phrases other than "cardiomegaly" / "cardiac enlargement"
    assert len(unmentions) == 12 * 7
    assert {"over the heart", "overly the heart size", "in the left heart", "in the right cardiac silhouette"} \
        <= unmentions
    ec = {p.text for p in default_labeler().unmention_phrases["Enlarged Cardiomediastinum"]}
    assert "over the  mediastinum" in ec  # "_mediastinum" keeps its leading space, as in chexpert-labeler


def test_cleaning_matches_chexpert_labeler():
    assert clean("Heart/mediastinum  normal..and/or effusion,no PTX") == \
        "heart or mediastinum normal. or effusion, no ptx"
    assert clean("A. . B") == "a. b"


@pytest.mark.parametrize("values, expected", [
    ([1.0], 1.0), ([0.0, 0.0], 0.0), ([0.0, -1.0], -1.0), ([0.0, 1.0], 1.0), ([-1.0, 1.0], 1.0),
    ([0.0, -1.0, 1.0], -1.0),  # chexpert-labeler tests {neg, unc} before {neg, pos}
])
def test_aggregation_precedence(values, expected):
    assert _resolve(values) == expected


def test_api_shapes_and_blank_input():
    labels = label_reports(["", None, float("nan"), "Small effusion."])
    assert labels.shape == (4, 14) and labels.dtype == np.float64
    nf = CHEXPERT_LABELS.index("No Finding")
    assert (labels[:3, nf] == 1).all() and np.isnan(labels[:3, 1:]).all()  # no mention: the No Finding rule
    assert label_reports([]).shape == (0, 14)
    with pytest.raises(TypeError):
        label_reports([3])
    frame = label_dataframe(["No effusion.", None])
    assert list(frame.columns) == ["Reports", *CHEXPERT_LABELS]
    assert frame["Reports"].tolist() == ["No effusion.", ""]


def test_very_long_report_is_linear_and_correct():
    report = "No pleural effusion. Mild cardiomegaly. " * 5000 + "Small left pneumothorax."
    start = time.perf_counter()
    labels = label_reports([report])[0]
    assert time.perf_counter() - start < 10
    assert labels[CHEXPERT_LABELS.index("Pleural Effusion")] == 0
    assert labels[CHEXPERT_LABELS.index("Cardiomegaly")] == 1
    assert labels[CHEXPERT_LABELS.index("Pneumothorax")] == 1
    # one 180,000-character "sentence" (no full stop) with 12,000 mentions: must not go quadratic
    run_on = "no effusion, mild edema, possible pneumonia over the heart size, " * 3000
    start = time.perf_counter()
    labels = label_reports([run_on])[0]
    assert time.perf_counter() - start < 10
    assert labels[CHEXPERT_LABELS.index("Pleural Effusion")] == 0
    assert labels[CHEXPERT_LABELS.index("Pneumonia")] == -1


def test_custom_rules_dir(tmp_path):
    rules = tmp_path / "rules"
    (rules / "phrases" / "mention").mkdir(parents=True)
    (rules / "phrases" / "mention" / "pneumothorax.txt").write_text("ptx\npneumothora[xc]\n")
    labeler = CheXpertLabeler(rules)
    row = labeler.label("No ptx. Pneumothorax.")  # a regex phrase goes through re.finditer
    assert row[CHEXPERT_LABELS.index("Pneumothorax")] == 1  # {neg, pos} -> positive
    with pytest.raises(FileNotFoundError):
        CheXpertLabeler(tmp_path / "missing")


@pytest.mark.parametrize("name, n_pairs, minimum", [
    # rules 1 got 145; rules 2 fixed its five misses with general scope rules (so this set is no longer untouched)
    ("chexpert_heldout_iu.tsv", 150, 148),  # issue 11 §8: >= 148 of 150
    # drawn and labelled after rules 2 was written, never used to change a rule: rules 2 gets 101 (rules 1: 100)
    ("chexpert_heldout2_iu.tsv", 102, 100),
])
def test_heldout_iu_sentences(name, n_pairs, minimum):
    """Hand-labelled IU X-ray sentences (see each file's header); the misses are listed in docs/metrics/chexpert.md."""
    import hashlib

    from xgem_bench.labelers.chexpert import split_sentences
    from xgem_bench.data.iuxray import read_iu_reports

    with open(HERE / name, encoding="utf-8") as f:
        rows = list(csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t"))
    reports = {r.source: r for r in read_iu_reports()}
    agree = 0
    for row in rows:
        sentence = split_sentences(clean(reports[row["source"]].text))[int(row["sentence"])]
        assert hashlib.sha1(sentence.encode()).hexdigest()[:8] == row["sha1"], row
        got = _value(label_reports([sentence])[0][CHEXPERT_LABELS.index(row["observation"])])
        agree += got == row["expected"]
    assert len(rows) == n_pairs
    assert agree >= minimum, f"{agree}/{len(rows)}"
