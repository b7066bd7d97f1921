"""The validity ladder: degradations do what they say (checked against the stored demo images and the CheXpert
labeler), Spearman verdicts by hand, and `xgem-bench validate` end to end at a small size (table, JSON, exit code)."""
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from xgem_bench.cli import app
from xgem_bench.data import load_dataset
from xgem_bench.labelers import label_reports
from xgem_bench.data.study import CHEXPERT_LABELS
from xgem_bench.validity import ladder as ladder_module
from xgem_bench.validity.degradations import (_chosen, flip_negations, sentences, shuffle_sentences,
                                              swapped_findings_image)
from xgem_bench.validity.ladder import DEGRADES, IGNORES, LadderContext, _donor_rows, judge, validate

SMALL_DEMO = "demo:n=30"


def test_share_ladders_degrade_nested_subsets():
    masks = [_chosen("x", 40, share) for share in (0, 0.25, 0.5, 0.75, 1)]
    assert [m.sum() for m in masks] == [0, 10, 20, 30, 40]
    assert all((a <= b).all() for a, b in zip(masks, masks[1:]))


def test_findings_swap_redraws_the_stored_phantom_and_changes_its_findings():
    data = load_dataset(SMALL_DEMO)
    studies = [data.load(i) for i in range(8)]
    context = LadderContext(demo_seed=0, donor_rows=_donor_rows(studies))
    # redrawn with the study's own row, the phantom is the stored 8-bit PNG (the independent reference)
    own = LadderContext(demo_seed=0, donor_rows=[{"report": s.report, **{n: s.labels.get(n, np.nan)
                                                                         for n in CHEXPERT_LABELS}} for s in studies])
    for study, redrawn in zip(studies, swapped_findings_image(studies, 1.0, own)):
        assert np.abs(redrawn - study.frontal).max() <= 0.5 / 255 + 1e-6
    swapped = swapped_findings_image(studies, 1.0, context)
    assert all(np.abs(a - s.frontal).max() > 0.05 for a, s in zip(swapped, studies))  # other findings drawn
    assert all(a is s.frontal for a, s in zip(swapped_findings_image(studies, 0.0, context), studies))


def test_report_degradations_against_the_labeler():
    effusion = CHEXPERT_LABELS.index("Pleural Effusion")
    assert label_reports(["No pleural effusion."])[0, effusion] == 0
    cardiomegaly = CHEXPERT_LABELS.index("Cardiomegaly")
    assert label_reports(["Cardiomegaly."])[0, cardiomegaly] == 1
    flipped = flip_negations("No pleural effusion. Cardiomegaly.")
    assert flipped == "pleural effusion. No cardiomegaly."
    assert label_reports([flipped])[0, effusion] == 1 and label_reports([flipped])[0, cardiomegaly] == 0
    text = "Heart is enlarged. No effusion. Lungs are clear."
    shuffled = shuffle_sentences(text, np.random.default_rng(0))
    assert shuffled != text and sorted(sentences(shuffled)) == sorted(sentences(text))
    # an IU impression without a final full stop: moved first, its negation must not run into the next sentence
    open_ended = "Left lower lobe pneumonia. No effusion"
    moved = shuffle_sentences(open_ended, np.random.default_rng(0))
    assert moved == "No effusion. Left lower lobe pneumonia."
    np.testing.assert_array_equal(label_reports([moved]), label_reports([open_ended]))


def test_judge_by_hand():
    ladders = {"up": {"levels": [0, 1, 2, 3, 4], "values": [0, 1, 3, 2, 9]},
               "flat": {"levels": [0, 1, 2, 3, 4], "values": [1, 1, 1, 1, 1]},
               "down": {"levels": [0, 1, 2, 3, 4], "values": [9, 8, 7, 6, 5]},
               "small": {"levels": [0, 1, 2, 3, 4], "values": [0, 0.1, 0.2, 0.3, 0.9]},
               "ceiling": {"levels": [0, 1, 2, 3, 4], "values": [0, 3, 4, 4, 4]},
               "back": {"levels": [0, 1, 2, 3, 4], "values": [0, 3, 4, 4, 3.9]}}
    judge(ladders, {"up": DEGRADES, "flat": DEGRADES, "down": DEGRADES, "small": IGNORES, "ceiling": DEGRADES,
                    "back": DEGRADES}, higher_is_better=False)
    assert ladders["up"]["rho"] == pytest.approx(0.9) and ladders["up"]["pass"] is True  # one pair out of order
    assert ladders["flat"]["pass"] is False and np.isnan(ladders["flat"]["rho"])  # a metric that does not move
    assert ladders["down"]["rho"] == pytest.approx(-1) and ladders["down"]["pass"] is False  # the wrong way
    assert ladders["small"]["pass"] is None and ladders["small"]["relative_movement"] == pytest.approx(0.1)
    # a bounded metric that reaches its worst value stays there: ties pull rho under 0.9, it never moves back
    assert ladders["ceiling"]["rho"] < 0.9 and ladders["ceiling"]["pass"] is True
    assert ladders["back"]["rho"] < 0.9 and ladders["back"]["pass"] is False  # one step back the good way


def test_every_expectation_names_a_registered_metric_and_a_ladder():
    from xgem_bench.metrics import get_metric_class, metric_names
    from xgem_bench.validity.degradations import LADDERS
    kinds = {ladder.name: ladder.kind for ladder in LADDERS}
    assert set(ladder_module.EXPECTED) <= set(metric_names())  # a misspelt name would never be checked
    for name, expected in ladder_module.EXPECTED.items():
        cls = get_metric_class(name)
        assert set(expected.values()) <= {DEGRADES, IGNORES}
        # a metric is only scored on ladders of its own kind (joint ladders: the joint metrics)
        assert all(kinds[ladder] == cls.kind or kinds[ladder] == "joint" for ladder in expected), name
    assert {"rouge", "meteor", "cider", "bertscore", "kid-inception", "prdc-inception"} <= set(ladder_module.EXPECTED)


@pytest.mark.slow
def test_validate_end_to_end_small(tmp_path, monkeypatch):
    args = ["validate", "--dataset", SMALL_DEMO, "--limit", "6", "--metrics", "bleu", "--metrics", "token-f1",
            "--metrics", "pixel-mae", "--ladder", "blur", "--ladder", "other-report", "--ladder", "sentences-shuffled",
            "--json", str(tmp_path / "v.json"), "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "pixel-mae" in result.output and "expected monotonicities hold" in result.output
    data = json.loads((tmp_path / "v.json").read_text())
    blur = data["metrics"]["pixel-mae"]["ladders"]["blur"]
    assert blur["levels"] == [0, 1, 2, 4, 8] and blur["values"][0] == 0
    assert blur["rho"] == pytest.approx(1) and blur["pass"]
    shuffled = data["metrics"]["token-f1"]["ladders"]["sentences-shuffled"]
    assert shuffled["expected"] == IGNORES and shuffled["movement"] == 0  # bag of words: order is invisible
    assert data["metrics"]["bleu"]["ladders"]["other-report"]["pass"] and data["all_pass"]
    # a failed expectation exits 1: demand that token-F1 follow the shuffle, which it cannot see
    monkeypatch.setitem(ladder_module.EXPECTED, "token-f1", {"sentences-shuffled": DEGRADES})
    failed = CliRunner().invoke(app, args[:-3] + ["-q"])
    assert failed.exit_code == 1 and "FAIL" in failed.output


def test_validate_refuses_other_data():
    from xgem_bench.data.dataset import InMemoryDataset
    from xgem_bench.data.study import Study
    real = InMemoryDataset([Study(f"s{i}", frontal=np.zeros((8, 8), np.float32), report="x", split="test")
                            for i in range(6)], name="mimic-cxr")
    with pytest.raises(ValueError, match="not the demo"):
        validate(dataset=real)
