"""RadGraph-F1: reward levels on hand-made annotations, and the whole offline path with a tiny model in the real format."""
import json
import tarfile

import pytest

from xgem_bench.metrics import MetricUnavailable, get_metric_class

from report_samples import make_metric, samples


def annotation(*entities):
    """radgraph's annotation layout: entities keyed by id, each with tokens, label and [relation, target id] pairs."""
    return {"text": "", "entities": {str(i): {"tokens": tokens, "label": label, "relations": relations,
                                              "start_ix": 0, "end_ix": 0}
                                     for i, (tokens, label, relations) in enumerate(entities, start=1)}}


def test_reward_levels_on_hand_made_annotations():
    """simple = entity sets, partial = entities plus 'has a relation', complete = every relation with its target."""
    from radgraph.rewards import compute_reward
    hyp = annotation(("effusion", "OBS-DP", [["located_at", "2"]]), ("pleural", "ANAT-DP", []),
                     ("left", "ANAT-DP", []), ("edema", "OBS-DP", []))
    ref = annotation(("effusion", "OBS-DP", [["located_at", "2"]]), ("pleural", "ANAT-DP", []),
                     ("right", "ANAT-DP", []), ("edema", "OBS-DP", [["located_at", "5"]]), ("lungs", "ANAT-DP", []))
    simple, partial, complete = compute_reward(hyp, ref, "all")
    # simple: hyp {effusion, pleural, left, edema}, ref {effusion, pleural, right, edema, lungs}: 3 shared
    assert simple == pytest.approx(2 * (3 / 4) * (3 / 5) / (3 / 4 + 3 / 5))
    # partial: edema has a relation only in ref -> (edema, OBS-DP) vs (edema, OBS-DP, True) differ: 2 shared
    assert partial == pytest.approx(2 * (2 / 4) * (2 / 5) / (2 / 4 + 2 / 5))
    # complete: (effusion, located_at, pleural) and (pleural) shared; ref edema -> lungs has no hyp counterpart
    assert complete == pytest.approx(2 * (2 / 4) * (2 / 5) / (2 / 4 + 2 / 5))
    assert compute_reward(hyp, hyp, "all") == (1.0, 1.0, 1.0)
    # a report without entities scores 0 at every level, whatever the other one holds
    assert compute_reward(annotation(), ref, "all") == (0.0, 0.0, 0.0)




PAIRS = [("No acute cardiopulmonary process.", "No acute cardiopulmonary process."),
         ("Small left pleural effusion.", "Small right pleural effusion with adjacent atelectasis."),
         ("", "Normal chest."),
         ("Mild pulmonary edema.", "   ")]


def test_missing_weights_name_the_fixing_command():
    cls = get_metric_class("radgraph-f1")
    assert "xgem-bench weights fetch radgraph-xl" in cls.unavailable_reason(cls.default_settings())
    assert "xgem-bench weights fetch radgraph" in cls.unavailable_reason({"model_type": "radgraph"})
    with pytest.raises(MetricUnavailable, match="weights fetch radgraph"):
        make_metric("radgraph-f1", model_type="radgraph")


def test_whole_path_offline_matches_the_upstream_package(radgraph_weights, tmp_path):
    from radgraph import F1RadGraph

    from xgem_bench import weights
    from xgem_bench.metrics.radgraph_f1 import prepare_model_dir

    metric = make_metric("radgraph-f1", model_type="radgraph", reward_level="complete")
    assert metric.settings["package"] == "radgraph==0.1.18"
    assert metric.settings["model_sha256"] == weights.checksum("radgraph")
    metric.update(samples(PAIRS[:2]))
    metric.update(samples(PAIRS)[2:])
    values = metric.compute()
    assert (values["n"], values["n_empty_hypothesis"], values["n_empty_reference"]) == (4, 1, 1)

    # the same pairs through the package directly (the folder our loader prepared, upstream's own API)
    upstream = F1RadGraph(reward_level="all", model_type="radgraph", cuda=-1,
                          model_cache_dir=str(prepare_model_dir("radgraph")))
    # lowercase=true by default: the package sees lower-cased text
    means, rewards, _, _ = upstream(hyps=[h.strip().lower() for h, _ in PAIRS],
                                    refs=[r.strip().lower() for _, r in PAIRS])
    assert [values["simple"], values["partial"], values["complete"]] == pytest.approx(list(means))
    assert values["radgraph_f1"] == values["complete"]
    rows = metric.per_sample()
    assert [rows[f"s{i}"]["complete"] for i in range(4)] == pytest.approx(rewards[2])
    # identical reports with entities score 1; an empty side scores 0 and stays in the mean (upstream rule)
    assert rows["s0"]["simple"] == 1.0
    assert rows["s2"] == rows["s3"] == {"radgraph_f1": 0.0, "simple": 0.0, "partial": 0.0, "complete": 0.0,
                                        "combined": 0.0, "entity_f1": 0.0, "relation_f1": 0.0}
    # ReXrank's "combined" from the package's own annotations of the non-empty pairs
    from xgem_bench.metrics.radgraph_f1 import combined_f1
    _, _, hyp_annotations, ref_annotations = upstream(hyps=[h.strip().lower() for h, _ in PAIRS[:2]],
                                                      refs=[r.strip().lower() for _, r in PAIRS[:2]])
    for i in range(2):
        assert rows[f"s{i}"]["combined"] == combined_f1(hyp_annotations[i], ref_annotations[i])[2]
    assert values["combined"] == pytest.approx(sum(rows[f"s{i}"]["combined"] for i in range(4)) / 4)


def test_combined_is_crm_entity_and_relation_f1_on_hand_made_annotations():
    """CXR-Report-Metric `radgraph_evaluate_model.py`: entity sets {(tokens, label)}, relation sets {(source,
    target, type)}; the study's RadGraph is the mean of the two F1s."""
    from xgem_bench.metrics.radgraph_f1 import combined_f1
    hyp = annotation(("effusion", "OBS-DP", [["located_at", "2"]]), ("pleural", "ANAT-DP", []),
                     ("left", "ANAT-DP", []), ("edema", "OBS-DP", [["located_at", "3"]]))
    ref = annotation(("effusion", "OBS-DP", [["located_at", "2"]]), ("pleural", "ANAT-DP", []),
                     ("right", "ANAT-DP", []), ("edema", "OBS-DP", [["located_at", "5"]]), ("lungs", "ANAT-DP", []))
    # entities: 3 of 4 found are true, 3 of 5 true are found -> F1 2/3; relations: (effusion -> pleural) shared,
    # hyp (edema -> left) vs ref (edema -> lungs) not: P 1/2, R 1/2 -> F1 1/2
    assert combined_f1(hyp, ref) == pytest.approx((2 / 3, 1 / 2, 7 / 12))
    # two reports without entities or relations: every 0/0 is 0 (CRM compute_f1), unlike a perfect match
    assert combined_f1(annotation(), annotation()) == (0.0, 0.0, 0.0)
    assert combined_f1(ref, ref) == (1.0, 1.0, 1.0)


def test_extracted_config_points_at_the_local_bert(radgraph_weights):
    from xgem_bench import weights
    from xgem_bench.metrics.radgraph_f1 import prepare_model_dir

    root = prepare_model_dir("radgraph")
    config = json.loads((root / "radgraph" / "config.json").read_text())
    bert = str(weights.require("radgraph-bert"))
    assert config["dataset_reader"]["token_indexers"]["bert"]["model_name"] == bert
    assert config["model"]["embedder"]["token_embedders"]["bert"]["model_name"] == bert
    assert prepare_model_dir("radgraph") == root  # extracted once


def test_archive_naming_an_unknown_transformer_is_a_clear_error(tmp_path, tiny_bert):
    from report_tiny_models import build_radgraph_archive

    from xgem_bench import weights
    from xgem_bench.metrics.radgraph_f1 import prepare_model_dir

    archive = build_radgraph_archive(tmp_path / "radgraph.tar.gz", tiny_bert, bert_name="someone/other-bert")
    weights.import_file("radgraph", archive)
    weights.import_file("radgraph-bert", tiny_bert)
    with pytest.raises(ValueError, match="someone/other-bert"):
        prepare_model_dir("radgraph")


def test_archive_without_config_is_rejected(tmp_path, tiny_bert):
    from xgem_bench import weights
    from xgem_bench.metrics.radgraph_f1 import prepare_model_dir

    with tarfile.open(tmp_path / "radgraph.tar.gz", "w:gz") as tar:
        tar.add(tiny_bert / "config.json", arcname="model/config.json")
    weights.import_file("radgraph", tmp_path / "radgraph.tar.gz")
    weights.import_file("radgraph-bert", tiny_bert)
    with pytest.raises(ValueError, match="not a RadGraph model archive"):
        prepare_model_dir("radgraph")


def test_settings_are_validated():
    with pytest.raises(ValueError, match="reward_level"):
        make_metric("radgraph-f1", reward_level="all")
    with pytest.raises(ValueError, match="model_type"):
        make_metric("radgraph-f1", model_type="echograph")


def test_report_longer_than_the_transformer_window(radgraph_weights):
    """Over 512 word pieces: the package folds the text into windows; it must score, not crash.

    Few words with many pieces each (9 in the test vocabulary), because radgraph's post-processing is quadratic in the
    number of entities and relations, which a random model predicts in large numbers on long text.
    """
    long = " ".join(["lymphangioleiomyomatosis"] * 70)  # 630 word pieces
    metric = make_metric("radgraph-f1", model_type="radgraph")
    metric.update(samples([(long, long)]))
    assert metric.per_sample()["s0"]["simple"] == 1.0


def test_case_is_ignored_by_default_as_upstream_head_does(radgraph_weights):
    """A lower-case hypothesis of a capitalised reference: the default (lowercase) equals upstream's scorer on
    lower-cased text and HEAD's rule (entity tokens lower-cased before the comparison) on upstream's own annotations
    of the raw text; lowercase=false equals radgraph 0.1.18 on the raw text (case-sensitive entity tokens)."""
    from radgraph import F1RadGraph
    from radgraph.rewards import compute_reward

    from xgem_bench.metrics.radgraph_f1 import prepare_model_dir
    hyp, ref = "small left pleural effusion. mild edema.", "Small Left Pleural Effusion. Mild Edema."
    upstream = F1RadGraph(reward_level="all", model_type="radgraph", cuda=-1,
                          model_cache_dir=str(prepare_model_dir("radgraph")))
    lowered, _, _, _ = upstream(hyps=[hyp], refs=[ref.lower()])
    raw, _, hyp_annotations, ref_annotations = upstream(hyps=[hyp], refs=[ref])

    def lower_tokens(annotation):
        return {**annotation, "entities": {k: {**e, "tokens": e["tokens"].lower()}
                                           for k, e in annotation["entities"].items()}}

    head = compute_reward(lower_tokens(hyp_annotations[0]), lower_tokens(ref_annotations[0]), "all")
    default = make_metric("radgraph-f1", model_type="radgraph")
    assert default.settings["lowercase"] is True
    default.update(samples([(hyp, ref)]))
    values = default.compute()
    assert [values["simple"], values["partial"], values["complete"]] == pytest.approx(list(lowered))
    assert list(lowered) == pytest.approx(list(head)) and values["simple"] == 1.0
    case_sensitive = make_metric("radgraph-f1", model_type="radgraph", lowercase=False)
    case_sensitive.update(samples([(hyp, ref)]))
    kept = case_sensitive.compute()
    assert [kept["simple"], kept["partial"], kept["complete"]] == pytest.approx(list(raw))
    assert kept["simple"] < 1.0  # 0.1.18 loses the capitalised matches
