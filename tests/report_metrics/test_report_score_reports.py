"""`xgem-bench score-reports` and its Python API: file format, matching by id, bad input, skipped metrics."""
import csv
import json
import re

import pytest
from nltk.tokenize import wordpunct_tokenize
from nltk.translate.bleu_score import corpus_bleu
from pycocoevalcap.bleu.bleu_scorer import BleuScorer
from typer.testing import CliRunner

from xgem_bench.cli import app
from xgem_bench.metrics import METRICS
from xgem_bench.report_scores import ReportFileError, read_reports_csv, resolve_metric

cli = CliRunner()
HYPS = {"a": "No acute cardiopulmonary process.", "b": "Small left pleural effusion.", "c": ""}
REFS = {"b": "Small left pleural effusion, unchanged.", "a": "No acute cardiopulmonary abnormality.",
        "c": "Normal chest."}


def write_csv(path, rows, header=("id", "report")):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows.items() if isinstance(rows, dict) else rows)
    return path


@pytest.fixture
def files(tmp_path):
    return (write_csv(tmp_path / "hyp.csv", HYPS),
            write_csv(tmp_path / "ref.csv", REFS, header=("Study_ID", "text")))


def score(*args):
    return cli.invoke(app, ["score-reports", "--json", *map(str, args)])


def tokens(text):
    """The command's default normalisation, stated with NLTK: lower-case, then `wordpunct_tokenize`."""
    return wordpunct_tokenize(text.lower())


def upstream_bleu(ids, convention):
    """BLEU-1..4 from the upstream packages themselves on the same tokens, pairs matched by id."""
    hyps, refs = [tokens(HYPS[i]) for i in ids], [tokens(REFS[i]) for i in ids]
    if convention == "nltk-corpus":
        weights = [(1.0,), (0.5, 0.5), (1 / 3,) * 3, (0.25,) * 4]
        return {f"bleu{n + 1}": corpus_bleu([[r] for r in refs], hyps, weights=w) for n, w in enumerate(weights)}
    scorer = BleuScorer(n=4)
    for hyp, ref in zip(hyps, refs):
        scorer += (" ".join(hyp), [" ".join(ref)])
    corpus, _ = scorer.compute_score(option="closest", verbose=0)
    return {f"bleu{n + 1}": value for n, value in enumerate(corpus)}


def test_bleu_json_and_per_sample_file(files, tmp_path):
    hyp, ref = files
    out = tmp_path / "out" / "per_sample.csv"
    result = score("--hyp", hyp, "--ref", ref, "--metrics", "bleu", "--per-sample", out,
                   "-s", "bleu.convention=coco-corpus")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    record = summary["metrics"]["bleu"]
    assert summary["n"] == 3 and record["status"] == "ok"
    # matched by id, not by row order; empty hypothesis counted
    expected = upstream_bleu("abc", "coco-corpus")
    assert {k: record["values"][k] for k in expected} == pytest.approx(expected, rel=1e-9)
    assert record["values"]["n_empty_hypothesis"] == 1
    assert "convention:coco-corpus" in record["signature"]
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["study_id"] for r in rows} == {"a", "b", "c"} and {r["metric"] for r in rows} == {"bleu"}
    assert float(next(r["value"] for r in rows if r["study_id"] == "c" and r["key"] == "bleu1")) == 0.0


def test_default_bleu_equals_nltk_corpus_bleu(files):
    result = score("--hyp", files[0], "--ref", files[1], "--metrics", "bleu")
    assert result.exit_code == 0, result.output
    values = json.loads(result.stdout)["metrics"]["bleu"]["values"]
    expected = upstream_bleu("abc", "nltk-corpus")
    assert expected["bleu2"] > 0.1  # real overlap, not only the zero-precision floor
    assert {k: values[k] for k in expected} == pytest.approx(expected, rel=1e-9)


def test_default_metrics_report_what_cannot_run(files):
    result = score("--hyp", files[0], "--ref", files[1])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)["metrics"]
    assert metrics["bleu"]["status"] == "ok"
    assert metrics["radgraph-f1"]["status"] == "skipped"
    assert "xgem-bench weights fetch radgraph-xl" in metrics["radgraph-f1"]["reason"]
    assert "xgem-bench weights fetch ratescore-ner" in metrics["ratescore"]["reason"]
    assert set(metrics) == {"bleu", "chexpert-f1", "radgraph-f1", "ratescore"}


def test_explicitly_requested_metric_that_cannot_run_exits_3(files):
    result = score("--hyp", files[0], "--ref", files[1], "--metrics", "bleu,radgraph")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["metrics"]["bleu"]["status"] == "ok"
    assert "weights fetch radgraph-xl" in result.stderr


def test_radgraph_through_the_command_with_tiny_weights(files, radgraph_weights):
    result = score("--hyp", files[0], "--ref", files[1], "--metrics", "radgraph", "-s", "radgraph.model_type=radgraph")
    assert result.exit_code == 0, result.output
    values = json.loads(result.stdout)["metrics"]["radgraph-f1"]["values"]  # stdout is pure JSON despite prints
    assert values["n"] == 3 and values["n_empty_hypothesis"] == 1


def test_aliases_resolve_through_the_registry():
    assert resolve_metric("rate") == "ratescore" and resolve_metric("RadGraph") == "radgraph-f1"
    assert resolve_metric("bleu") == "bleu"
    if "chexpert-f1" in METRICS:
        assert resolve_metric("chexpert") == "chexpert-f1"
    with pytest.raises(KeyError, match="scores image outputs"):
        resolve_metric("pixel-mae")
    with pytest.raises(KeyError, match="unknown metric"):
        resolve_metric("rouge")


@pytest.mark.parametrize("hyp_rows, message", [
    ({"a": "x", "b": "y"}, "hyp.csv has 2 reports, .*ref.csv has 3"),
    ({"a": "x", "b": "y", "z": "w"}, "ids only in .*hyp.csv: 'z'; ids only in .*ref.csv: 'c'"),
])
def test_mismatched_files_are_a_clear_error(tmp_path, files, hyp_rows, message):
    hyp = write_csv(tmp_path / "hyp.csv", hyp_rows)
    result = score("--hyp", hyp, "--ref", files[1], "--metrics", "bleu")
    assert result.exit_code == 2
    assert "do not match" in result.stderr
    assert re.search(message, result.stderr)


def test_bad_files(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"id,report\na,fine\nb,caf\xe9 au lait\n")
    with pytest.raises(ReportFileError, match=r"line 3 is not valid UTF-8 \(byte 0xe9"):
        read_reports_csv(bad)
    with pytest.raises(ReportFileError, match="appears twice"):
        read_reports_csv(write_csv(tmp_path / "dup.csv", [("a", "x"), ("a", "y")]))
    with pytest.raises(ReportFileError, match="no report column"):
        read_reports_csv(write_csv(tmp_path / "cols.csv", [("a", "x")], header=("id", "findings")))
    with pytest.raises(ReportFileError, match="empty id"):
        read_reports_csv(write_csv(tmp_path / "noid.csv", [(" ", "x")]))
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(ReportFileError, match="is empty"):
        read_reports_csv(tmp_path / "empty.csv")
    with pytest.raises(ReportFileError, match="cannot read"):
        read_reports_csv(tmp_path / "missing.csv")
    result = score("--hyp", bad, "--ref", bad)
    assert result.exit_code == 2 and "not valid UTF-8" in result.stderr


def test_bom_quoted_newlines_and_very_long_reports(tmp_path):
    long = "Small left pleural effusion. " * 20000  # ~580k characters, past csv's default field limit
    path = tmp_path / "r.csv"
    path.write_bytes("\ufeffid,report\n".encode() + f'a,"line one\nline two"\nb,{long}\n'.encode())
    assert read_reports_csv(path) == {"a": "line one\nline two", "b": long}
    result = score("--hyp", path, "--ref", path, "--metrics", "bleu")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["metrics"]["bleu"]["values"]["bleu4"] == pytest.approx(1.0)


def test_bad_metric_settings_are_user_errors(files):
    result = score("--hyp", files[0], "--ref", files[1], "--metrics", "bleu", "-s", "bleu.convention=sacre")
    assert result.exit_code == 2 and "unknown BLEU convention" in result.stderr
    result = score("--hyp", files[0], "--ref", files[1], "--metrics", "rouge")
    assert result.exit_code == 2 and "unknown metric 'rouge'" in result.stderr
