"""`--preset rexrank` end to end: run and score-reports record it and apply its settings, `tables --table rexrank`
shows the runs beside a leaderboard CSV with intervals, `compare` tests 1/RadCliQ-v1; all with tiny models."""
import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from xgem_bench.cli import app
from xgem_bench.data import InMemoryDataset, Study
from xgem_bench.presets import REXRANK, apply_preset

cli = CliRunner()
REPORTS = ["No acute cardiopulmonary process.", "Large right pleural effusion.", "Mild cardiomegaly.",
           "Small left pneumothorax.", "Clear lungs, no effusion.", "Moderate pulmonary edema.",
           "Left lower lobe atelectasis.", "Support devices in place."]
#: the preset's metrics that have tiny models here (RaTEScore and GREEN are tested on their own)
TINY = ["bleu", "bertscore", "sembscore", "radgraph-f1", "radcliq-v1"]


def _dataset():
    rng = np.random.default_rng(0)
    studies = [Study(study_id=f"s{i:02d}", subject_id=f"p{i}", frontal=rng.random((16, 16), dtype=np.float32),
                     report=REPORTS[i % len(REPORTS)], split="test") for i in range(8)]
    return InMemoryDataset(studies, name="rexrank-test")


def _predictions(path, shift):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["study_id", "report"])
        writer.writerows((f"s{i:02d}", REPORTS[(i + shift) % len(REPORTS)]) for i in range(8))
    return path


def test_apply_preset_puts_the_users_choices_on_top():
    names, settings = apply_preset("rexrank", None, {"bleu": {"max_n": 2}})
    assert names == list(REXRANK.metrics)
    assert settings["bleu"]["tokenizer"] == "cxr-report-metric" and settings["bleu"]["max_n"] == 2
    assert settings["radgraph-f1"] == {"model_type": "radgraph", "reward_level": "combined", "lowercase": False}
    names, _ = apply_preset("rexrank", ["bleu"], None)
    assert names == ["bleu"]
    with pytest.raises(KeyError, match="unknown preset"):
        apply_preset("rexrnk", None, None)


@pytest.mark.slow
def test_run_tables_compare_with_the_preset(tmp_path, radgraph_weights, chexbert_weights, bertscore_weights):
    from xgem_bench.runner import run
    from xgem_bench.stats import bootstrap_ci, mean_of
    predictions = {"close": _predictions(tmp_path / "close.csv", 0), "far": _predictions(tmp_path / "far.csv", 3)}
    result = run("F->T", predictions=predictions, dataset=_dataset(), out=tmp_path / "runs", metrics=TINY,
                 preset="rexrank", run_id="rexrank", progress=False, batch_size=4).results
    assert result["preset"] == "rexrank"
    records = result["models"]["far"]["metrics"]
    assert records["bleu/T"]["settings"]["tokenizer"] == "cxr-report-metric"
    assert records["radgraph-f1/T"]["settings"]["reward_level"] == "combined"
    assert all(r["status"] == "ok" for r in records.values()), records

    board = tmp_path / "board.csv"
    board.write_text("Model Name,BLEU,BertScore,SembScore,RadGraph,1/RadCliQ-v1,RaTEScore,GREEN\n"
                     "MedVersa,0.193,0.430,0.315,0.273,0.919,-,\n")
    out = cli.invoke(app, ["tables", str(tmp_path / "runs" / "rexrank"), "--table", "rexrank", "--format", "csv",
                           "--leaderboard", str(board), "--ci", "--resamples", "200"])
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(out.output.splitlines()))
    medversa = [r for r in rows if r["model"] == "MedVersa"]
    assert {r["column"]: float(r["value"]) for r in medversa if r["value"]}["1/RadCliQ-v1"] == 0.919
    far = {r["column"]: r for r in rows if r["model"] == "far"}
    assert set(far) >= {"BLEU", "BertScore", "SembScore", "RadGraph", "1/RadCliQ-v1"}
    assert float(far["BLEU"]["value"]) == pytest.approx(records["bleu/T"]["values"]["bleu2"])
    # the interval of 1/RadCliQ-v1 resamples per-study RadCliQ-v1 and inverts the mean
    per_study = [v for v in _per_sample(tmp_path / "runs" / "rexrank", "far", "radcliq-v1", "radcliq_v1")]
    expected = bootstrap_ci(mean_of(per_study, [f"s{i:02d}" for i in range(len(per_study))]), 200, 0.95, 0)
    inverse = sorted(1 / x for x in (expected.low, expected.high))  # up to the quantiles' interpolation
    assert float(far["1/RadCliQ-v1"]["ci_low"]) == pytest.approx(inverse[0], rel=1e-6)
    assert float(far["1/RadCliQ-v1"]["ci_high"]) == pytest.approx(inverse[1], rel=1e-6)

    md = cli.invoke(app, ["tables", str(tmp_path / "runs" / "rexrank"), "--table", "rexrank"]).output
    assert "preset rexrank" in md and "RadGraph = radgraph-f1 combined" in md

    compared = cli.invoke(app, ["compare", str(tmp_path / "runs" / "rexrank"), "--task", "F->T", "--metric",
                                "radcliq-v1", "--a", "close", "--b", "far", "--resamples", "200"])
    assert compared.exit_code == 0, compared.output
    test = json.loads(compared.output)
    assert test["key"] == "inv_radcliq_v1" and 0 <= test["p_value"] <= 1
    close = _per_sample(tmp_path / "runs" / "rexrank", "close", "radcliq-v1", "radcliq_v1")
    assert test["value_a"] == pytest.approx(1 / np.mean(close))
    # "close" copies the references: RadCliQ-v1 of perfect reports is below 0, so its inverse is negative
    # (RadEval issue #5); the run counts such studies
    assert np.mean(close) < 0 < result["models"]["close"]["metrics"]["radcliq-v1/T"]["values"]["n_nonpositive"]


def _per_sample(run_dir, model, metric, key):
    with open(run_dir / "per_sample.csv") as f:
        return [float(r["value"]) for r in csv.DictReader(f)
                if r["model"] == model and r["metric"] == metric and r["key"] == key]


def test_score_reports_preset_names_it_and_reads_the_preset_keys(tmp_path, chexbert_weights):
    hyp, ref = tmp_path / "hyp.csv", tmp_path / "ref.csv"
    _predictions(hyp, 0)
    _predictions(ref, 1)
    out = cli.invoke(app, ["score-reports", "--hyp", str(hyp), "--ref", str(ref), "--preset", "rexrank", "--json",
                           "--metrics", "bleu,sembscore,chexbert-f1", "--ci", "--resamples", "100"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output)
    assert summary["preset"] == "rexrank"
    assert summary["metrics"]["bleu"]["primary"] == "bleu2"
    assert summary["metrics"]["bleu"]["settings"]["tokenizer"] == "cxr-report-metric"
    for name in ("bleu", "sembscore", "chexbert-f1"):
        assert "interval" in summary["metrics"][name], summary["metrics"][name]
    assert summary["metrics"]["chexbert-f1"]["interval"]["value"] == summary["metrics"]["chexbert-f1"]["values"][
        "f1_micro_5"]
