"""The three experiments end to end at tiny size (32 px phantoms, one epoch), through the Python API and the CLI."""
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from xgem_bench.cli import app
from xgem_bench.utility import UtilityConfig, TrainSettings, load_utility_run, run_experiment, utility_table
from xgem_bench.utility.experiments import UtilityError
from xgem_bench.utility.prompts import PromptDataset, prompt_id
from xgem_bench.tasks import Modality

from utility_fixtures import CLASSES, tiny_dataset

TINY = TrainSettings(image_size=32, max_epochs=1, batch_size=8, patience=1)


def test_prompt_dataset_repeats_sources_under_new_ids():
    real = tiny_dataset()
    train = list(real.indices("train")[:2])
    prompts = PromptDataset(real, [train[0], train[1], train[0]])
    first, second = real.study_ids[train[0]], real.study_ids[train[1]]
    assert prompts.study_ids == [first, second, prompt_id(first, 1)]
    study = prompts.load(2, (Modality.FRONTAL,))
    assert study.study_id.endswith("~1") and study.split == "synthetic"
    np.testing.assert_array_equal(study.frontal, real.load(train[0]).frontal)
    assert real.load(train[0]).study_id == real.study_ids[train[0]]  # the source is not renamed


@pytest.mark.slow
def test_anonymization_with_the_oracle_trains_the_same_classifier_twice(tmp_path):
    """The oracle returns each training study's own image: the synthetic-only arm sees exactly the real arm's data,
    so (same seed, same batch order) it must give exactly the same test predictions and scores."""
    config = UtilityConfig("anonymization", real="tiny", synthetic="oracle", classes=CLASSES, seeds=1, train=TINY,
                           n_resamples=20)
    results = run_experiment(config, out=tmp_path, run_id="anon", progress=False, dataset=tiny_dataset())
    real, synthetic = results["arms"]["real"], results["arms"]["synthetic"]
    assert (real["n_real"], synthetic["n_synthetic"]) == (24, 24)
    assert real["per_seed"] == synthetic["per_seed"]
    saved = load_utility_run("anon", root=tmp_path)
    assert saved["arms"]["real"]["mean"] == pytest.approx(real["mean"], nan_ok=True)
    assert saved["config"]["train"]["image_size"] == 32 and saved["synthetic_source"]["generations"]["anonymization"]
    text = utility_table(saved, "md", with_paper=True)
    assert "Table 8" in text and "Synthetic (paper) | 0.74 | 0.73 | 0.73 | 0.34 | 0.23 | 0.23" in text
    with pytest.raises(UtilityError, match="finished utility run"):
        run_experiment(config, out=tmp_path, run_id="anon", progress=False, dataset=tiny_dataset())


@pytest.mark.slow
def test_imbalance_balances_the_rare_class_with_synthetic_positives(tmp_path):
    """On lateral views (Table A5), the rare class is brought up to the frequent one with synthetic positives."""
    config = UtilityConfig("imbalance", real="tiny", synthetic="oracle", classes=CLASSES, seeds=1, train=TINY,
                           n_resamples=20, view="L")
    results = run_experiment(config, out=tmp_path, run_id="imb", progress=False, dataset=tiny_dataset())
    before = results["arms"]["real"]["positives"]
    after = results["arms"]["real+synthetic"]["positives"]
    assert before["Pleural Effusion"]["n_pos"] < before["Cardiomegaly"]["n_pos"] == 12
    assert after["Pleural Effusion"]["n_pos"] >= 12  # brought up to the most frequent class
    assert results["arms"]["real+synthetic"]["n_synthetic"] == after["Pleural Effusion"]["n_pos"] - before[
        "Pleural Effusion"]["n_pos"]
    assert "Table A5" in utility_table(results, "md")
    assert (tmp_path / "imb" / "synthetic" / "balancing" / "results.json").exists()
    assert json.loads((tmp_path / "imb" / "synthetic" / "balancing" / "results.json").read_text())["task"] == "T->L"
    table9 = utility_table(results, "md", table="9", with_paper=True)
    assert "Pleural Effusion" in table9 and "14.1%" in table9


@pytest.mark.slow
def test_scarcity_from_the_cli_then_resume_and_tables(tmp_path, monkeypatch):
    runner = CliRunner()
    args = ["utility", "scarcity", "--real", "demo:n=40", "--synthetic", "oracle", "--image-size", "32",
            "--max-epochs", "1", "--seeds", "1", "--n-real", "10", "--n-synthetic", "0,20", "--resamples", "10",
            "--batch-size", "8", "--out", str(tmp_path), "--run-id", "scar", "-q", "--with-paper", "--threads", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Table 11" in result.output and "15000 | 60000 | 75000" in result.output
    saved = json.loads((tmp_path / "scar" / "utility.json").read_text())
    assert [a["n_synthetic"] for a in saved["arms"].values()] == [0, 20]
    latex = runner.invoke(app, ["utility", "table", "scar", "--root", str(tmp_path), "--format", "latex", "--ci"])
    assert latex.exit_code == 0 and r"\begin{tabular}" in latex.output
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "finished utility run" in again.output
    # the stored run in `results list` and `tables --table 11`, beside a second run (another synthetic source)
    second = {**saved, "run_id": "scar-other", "synthetic_source": {"source": "other-model", "generations": {}}}
    (tmp_path / "scar-other").mkdir()
    (tmp_path / "scar-other" / "utility.json").write_text(json.dumps(second))
    listed = runner.invoke(app, ["results", "list", "--root", str(tmp_path)], env={"COLUMNS": "300"})
    assert listed.exit_code == 0, listed.output
    line = next(row for row in listed.output.splitlines() if row.startswith("scar "))
    assert "utility scarcity" in line and "oracle" in line and " F " in line and "demo" in line
    table = runner.invoke(app, ["tables", "scar", "scar-other", "--table", "11", "--root", str(tmp_path),
                                "--with-paper"])
    assert table.exit_code == 0, table.output
    rows = [row for row in table.output.splitlines() if row.startswith("| real10")]
    assert [row.split(" | ")[0] for row in rows] == [
        "| real10+synthetic0 (oracle, scar)", "| real10+synthetic20 (oracle, scar)",
        "| real10+synthetic0 (other-model, scar-other)", "| real10+synthetic20 (other-model, scar-other)"]
    assert "| 15k + 60k (paper) | 15000 | 60000 | 75000 | 0.74 |" in table.output
    shown = runner.invoke(app, ["results", "show", str(tmp_path / "scar")])
    assert shown.exit_code == 2 and "is a utility run" in shown.output
    wrong = runner.invoke(app, ["tables", "scar", "--table", "8", "--root", str(tmp_path)])
    assert wrong.exit_code != 0 and "anonymization (frontal) utility runs" in wrong.output


def test_bad_arguments_are_refused_with_the_fix(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["utility", "scarcity", "--real", "demo:n=40", "--synthetic", "oracle", "--n-real",
                                 "100000", "--out", str(tmp_path), "-q", "--demo"])
    assert result.exit_code == 2 and "choose a smaller --n-real" in result.output
    result = runner.invoke(app, ["utility", "anonymization", "--view", "X", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "view must be F" in result.output
    result = runner.invoke(app, ["utility", "imbalance", "--classes", "Heart", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "unknown classes" in result.output
    result = runner.invoke(app, ["utility", "anonymization", "--synthetic", "nosuchmodel", "--real", "demo:n=40",
                                 "--image-size", "32", "--out", str(tmp_path), "-q"])
    assert result.exit_code == 2 and "nosuchmodel" in result.output
