"""RaTEScore: the whole offline path with tiny models in the formats the package loads, against the package itself."""
import json

import pytest

from xgem_bench.metrics import MetricUnavailable, get_metric_class

from report_samples import make_metric, samples




PAIRS = [("No acute cardiopulmonary process.", "No acute cardiopulmonary process."),
         ("ok", "Small left pleural effusion. Mild edema."),  # "ok" yields no sentence for RaTEScore's splitter
         ("Small left pleural effusion.", "Small right pleural effusion with adjacent atelectasis."),
         ("", "Normal chest."),
         ("Mild pulmonary edema. Cardiomegaly.", "Moderate pulmonary edema.")]


def test_missing_weights_name_the_fixing_command():
    cls = get_metric_class("ratescore")
    assert "xgem-bench weights fetch ratescore-ner" in cls.unavailable_reason()
    with pytest.raises(MetricUnavailable, match="weights fetch ratescore-ner"):
        make_metric("ratescore", batch_size=2)


def test_whole_path_offline_matches_the_upstream_package(ratescore_weights):
    from RaTEScore import RaTEScore

    from xgem_bench import weights

    metric = make_metric("ratescore", batch_size=2, affinity_matrix="short")
    assert metric.settings["package"] == "RaTEScore==0.6.0"
    assert metric.settings["ratescore-ner_sha256"] == weights.checksum("ratescore-ner")
    metric.update(samples(PAIRS[:3]))
    metric.update(samples(PAIRS)[3:])
    values, rows = metric.compute(), metric.per_sample()
    assert (values["n"], values["n_without_sentences"]) == (5, 2)

    upstream = RaTEScore(bert_model=str(weights.require("ratescore-ner")),
                         eval_model=str(weights.require("ratescore-biolord")), use_gpu=False,
                         affinity_matrix="short")
    scorable = [0, 2, 4]
    expected = upstream.compute_score([PAIRS[i][0] for i in scorable], [PAIRS[i][1] for i in scorable])
    assert [rows[f"s{i}"]["ratescore"] for i in scorable] == pytest.approx(expected, rel=1e-5)
    # a pair without sentences gets upstream's no-entity value and does not shift the pairs after it
    assert rows["s1"]["ratescore"] == rows["s3"]["ratescore"] == 0.5
    assert rows["s0"]["ratescore"] == pytest.approx(1.0, abs=1e-5)  # identical reports
    assert values["ratescore"] == pytest.approx(sum(r["ratescore"] for r in rows.values()) / 5)
    # the setting reaches the package (with one entity type, as here, the matrix cancels out of the score)
    assert metric._ratescore().affinity_matrix[("NEG", "WEIGHT")] == pytest.approx(0.3611577852354489)


def test_multi_type_deberta_ner_matches_the_package_on_the_long_matrix(tmp_path, tiny_bert):
    # RaTE-NER's own architecture (DeBERTa-v2) with entities of several types, negated ones included, so the
    # affinity matrix and the negation weighting change the score (unlike the one-type test above)
    from RaTEScore import RaTEScore
    from RaTEScore.score import run_ner

    from report_tiny_models import build_deberta_rate_ner
    from xgem_bench import weights
    weights.import_file("ratescore-ner", build_deberta_rate_ner(tmp_path / "deberta-ner"))
    weights.import_file("ratescore-biolord", tiny_bert)
    metric = make_metric("ratescore", batch_size=2)
    assert metric.settings["affinity_matrix"] == "long"
    scorable = [0, 2, 4]
    metric.update(samples([PAIRS[i] for i in scorable]))
    rows = metric.per_sample()

    upstream = RaTEScore(bert_model=str(weights.require("ratescore-ner")),
                         eval_model=str(weights.require("ratescore-biolord")), use_gpu=False)
    assert type(upstream.model).__name__ == "DebertaV2ForTokenClassification"
    entities = run_ner([PAIRS[i][1] for i in scorable], upstream.config.id2label, upstream.tokenizer, upstream.model,
                       upstream.device, 2)
    types = {kind for pairs in entities for _, kind in pairs}
    assert len(types) >= 3 and any(kind.startswith("NON-") for kind in types), types
    expected = upstream.compute_score([PAIRS[i][0] for i in scorable], [PAIRS[i][1] for i in scorable])
    assert [rows[f"s{i}"]["ratescore"] for i in range(3)] == pytest.approx(expected, rel=1e-5)
    short = RaTEScore(bert_model=str(weights.require("ratescore-ner")),
                      eval_model=str(weights.require("ratescore-biolord")), use_gpu=False, affinity_matrix="short")
    shorter = short.compute_score([PAIRS[i][0] for i in scorable], [PAIRS[i][1] for i in scorable])
    assert max(abs(a - b) for a, b in zip(expected, shorter)) > 1e-4  # the matrix matters with these entities


def test_affinity_matrices_against_the_published_files(shared_data):
    """RaTEScore 0.6.0's embedded `long` is the repository file plus `neg_weight` (which the file lacks); its `short`
    is not the repository's short_weight.json, so that file is bundled and offered as `short-repo`."""
    from RaTEScore.scorer import DEFAULT_MATRIX_LONG, DEFAULT_MATRIX_SHORT

    from xgem_bench.metrics.ratescore import _affinity_argument
    long_file = json.loads((shared_data / "ratescore" / "long_weight.json").read_text())
    assert {k: v for k, v in DEFAULT_MATRIX_LONG.items() if k != "neg_weight"} == long_file
    short_file = json.loads((shared_data / "ratescore" / "short_weight.json").read_text())
    assert short_file.keys() == DEFAULT_MATRIX_SHORT.keys() and short_file != DEFAULT_MATRIX_SHORT
    assert json.loads(open(_affinity_argument("short-repo")).read()) == short_file


def test_repository_short_matrix_reaches_the_package(ratescore_weights):
    metric = make_metric("ratescore", batch_size=2, affinity_matrix="short-repo")
    metric.update(samples(PAIRS[:1]))
    assert metric._ratescore().affinity_matrix[("NEG", "WEIGHT")] == pytest.approx(0.786728804814)


def test_unknown_affinity_matrix_is_rejected():
    with pytest.raises(ValueError, match="affinity_matrix"):
        make_metric("ratescore", batch_size=2, affinity_matrix="medium")


def test_report_longer_than_the_transformer_window(ratescore_weights):
    """A 600-word sentence: the package truncates it at 512 tokens; it must score, not crash."""
    long = " ".join(["small left pleural effusion with adjacent atelectasis"] * 90) + "."
    metric = make_metric("ratescore", batch_size=2)
    metric.update(samples([(long, long), ("Mild edema.", long)]))
    assert metric.per_sample()["s0"]["ratescore"] == pytest.approx(1.0, abs=1e-5)
