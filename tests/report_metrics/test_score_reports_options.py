"""`score-reports` options: readable output, --json, --ci, --hyp-column/--ref-column, --intersect, metric names.

The interval is checked against an independent path: the same bootstrap draws applied to the report lists
themselves, scored by `metrics.bleu.bleu` (not through the per-report n-gram counts the command resamples).
"""
import csv
import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from xgem_bench.cli import app
from xgem_bench.metrics.bleu import bleu

cli = CliRunner()
HYPS = {"a": "no acute cardiopulmonary process", "b": "small left pleural effusion is seen",
        "c": "mild cardiomegaly without edema", "d": "right lower lobe opacity may be pneumonia",
        "e": "no pneumothorax or effusion", "f": "stable cardiomediastinal silhouette"}
REFS = {"a": "no acute cardiopulmonary process", "b": "small left pleural effusion",
        "c": "mild cardiomegaly and no edema", "d": "right lower lobe opacity concerning for pneumonia",
        "e": "no pneumothorax no effusion", "f": "cardiomediastinal silhouette is stable", "z": "extra reference"}


def write_csv(path, rows, header):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows.items())
    return path


@pytest.fixture
def files(tmp_path):
    return (write_csv(tmp_path / "hyp.csv", HYPS, ("study_id", "generated")),
            write_csv(tmp_path / "ref.csv", REFS, ("study_id", "findings")))


def score(*args):
    return cli.invoke(app, ["score-reports", *map(str, args)])


def test_column_names_intersect_and_readable_output(files):
    hyp, ref = files
    result = score("--hyp", hyp, "--ref", ref, "--metrics", "bleu")
    assert result.exit_code == 2 and "has no report column" in result.output
    result = score("--hyp", hyp, "--ref", ref, "--metrics", "bleu", "--hyp-column", "generated",
                   "--ref-column", "findings")
    assert result.exit_code == 2 and "ids only in" in result.output and "--intersect" in result.output
    result = score("--hyp", hyp, "--ref", ref, "--metrics", "bleu", "--hyp-column", "Generated",
                   "--ref-column", "findings", "--intersect")
    assert result.exit_code == 0, result.output
    expected = bleu([HYPS[i] for i in HYPS], [REFS[i] for i in HYPS])
    assert result.stdout.startswith(f"6 reports of {hyp} against {ref} (1 references without hypothesis left out)")
    assert re.search(rf"^bleu +bleu4 +{expected['bleu4']:.4f} *$", result.stdout, re.M)  # the table row
    assert f"bleu1={expected['bleu1']:.4f}" in result.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)


def test_ci_matches_bootstrap_of_the_reports_themselves(files):
    hyp, ref = files
    result = score("--hyp", hyp, "--ref", ref, "--metrics", "bleu", "--hyp-column", "generated", "--ref-column",
                   "findings", "--intersect", "--ci", "--resamples", "60", "--level", "0.8", "--seed", "5", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)["metrics"]["bleu"]
    interval = record["interval"]
    ids = list(HYPS)
    rng = np.random.default_rng(5)
    draws = []
    for _ in range(60):
        pick = rng.integers(0, len(ids), size=len(ids))
        draws.append(bleu([HYPS[ids[i]] for i in pick], [REFS[ids[i]] for i in pick])["bleu4"])
    low, high = np.quantile(draws, [0.1, 0.9])
    assert (interval["low"], interval["high"]) == pytest.approx((low, high), abs=1e-9)
    assert interval["value"] == pytest.approx(record["values"]["bleu4"])
    assert interval["n_resamples"] == 60 and interval["level"] == 0.8 and interval["seed"] == 5


def test_metric_names_are_those_of_run_and_compare(files):
    hyp, ref = files
    args = ("--hyp", hyp, "--ref", ref, "--hyp-column", "generated", "--ref-column", "findings", "--intersect")
    long_names = json.loads(score(*args, "--metrics", "chexpert-f1,bleu", "--json").stdout)["metrics"]
    short_names = json.loads(score(*args, "--metrics", "chexpert,bleu", "--json").stdout)["metrics"]
    assert list(long_names) == list(short_names) == ["chexpert-f1", "bleu"]
    result = score(*args, "--metrics", "chexpert-f1")
    assert "chexpert-f1" in result.stdout
