"""CheXbert-F1 and SembScore: a tiny checkpoint in CheXbert's own format, against f1chexbert's labelling code,
sklearn's classification_report (what f1chexbert reports) and a plain transformers [CLS] embedding (CRM's encoder)."""
import numpy as np
import pytest
import torch

from xgem_bench.data.study import CHEXPERT_LABELS
from xgem_bench.metrics import MetricUnavailable, get_metric_class

from report_samples import make_metric, samples

PAIRS = [("No acute cardiopulmonary process.", "No acute cardiopulmonary process."),
         ("Small left pleural effusion.\nMild edema.", "Small left pleural effusion. Mild pulmonary edema."),
         ("Cardiomegaly with   vascular congestion.", "Heart size is normal. No effusion."),
         ("", "Right lower lobe consolidation, possibly pneumonia."),
         ("Possible atelectasis at the left base.", "Left basilar atelectasis. Support devices in place."),
         ("Pneumothorax on the right. " * 120, "No pneumothorax.")]  # over 512 word pieces: truncated


def _upstream_labeler(tiny_bert, tiny_chexbert):
    """f1chexbert 0.0.2's F1CheXbert with its hub names replaced by the tiny folder (its __init__ downloads)."""
    from collections import OrderedDict

    from f1chexbert.f1chexbert import F1CheXbert, bert_labeler
    from transformers import BertTokenizer
    labeler = F1CheXbert.__new__(F1CheXbert)
    torch.nn.Module.__init__(labeler)
    labeler.device = torch.device("cpu")
    labeler.tokenizer = BertTokenizer.from_pretrained(tiny_bert)
    model = bert_labeler(pretrain_path=str(tiny_bert))
    state = torch.load(tiny_chexbert, map_location="cpu")["model_state_dict"]
    model.load_state_dict(OrderedDict((k.replace("module.", ""), v) for k, v in state.items()), strict=True)
    labeler.model = model.eval()
    return labeler


def test_missing_weights_name_the_fixing_command():
    for name in ("chexbert-f1", "sembscore"):
        assert "xgem-bench weights fetch chexbert" in get_metric_class(name).unavailable_reason()
    with pytest.raises(MetricUnavailable, match="weights fetch chexbert"):
        make_metric("chexbert-f1")


@pytest.mark.slow
def test_labels_match_f1chexbert_and_f1_matches_sklearn(chexbert_weights, tiny_bert, tiny_chexbert):
    from sklearn.metrics import classification_report

    from xgem_bench.metrics.chexbert_model import HEAD_ORDER
    metric = make_metric("chexbert-f1", batch_size=4)
    metric.update(samples(PAIRS[:4]))
    metric.update(samples(PAIRS)[4:])
    values, rows = metric.compute(), metric.per_sample()

    upstream = _upstream_labeler(tiny_bert, tiny_chexbert)
    with torch.no_grad():
        for i, (hyp, ref) in enumerate(PAIRS):
            for side, text in (("gen", hyp), ("ref", ref)):
                expected = upstream.get_label(text.strip(), mode="classification")
                ours = [rows[f"s{i}"][f"{side}/{name}"] for name in HEAD_ORDER]
                assert [("" if np.isnan(v) else int(v)) for v in ours] == expected, (i, side)
        hyps = [upstream.get_label(h.strip()) for h, _ in PAIRS]  # rrg mode, as F1CheXbert.forward
        refs = [upstream.get_label(r.strip()) for _, r in PAIRS]
    assert len({tuple(r) for r in hyps + refs}) > 3, "the tiny heads should give varied labels"
    five = [HEAD_ORDER.index(n) for n in ("Cardiomegaly", "Edema", "Consolidation", "Atelectasis",
                                          "Pleural Effusion")]
    report = classification_report(refs, hyps, output_dict=True, zero_division=0)
    report_5 = classification_report(np.array(refs)[:, five], np.array(hyps)[:, five], output_dict=True,
                                     zero_division=0)
    for average in ("micro", "macro", "weighted"):
        assert values[f"f1_{average}"] == pytest.approx(report[f"{average} avg"]["f1-score"], abs=1e-12)
        assert values[f"f1_{average}_5"] == pytest.approx(report_5[f"{average} avg"]["f1-score"], abs=1e-12)
    for j, name in enumerate(HEAD_ORDER):
        assert values[f"f1/{name}"] == pytest.approx(report[str(j)]["f1-score"], abs=1e-12)
    assert values["n"] == len(PAIRS)


def test_uncertain_ignore_leaves_pairs_out():
    from xgem_bench.metrics.chexbert_f1 import f1_values
    k = len(CHEXPERT_LABELS)
    gen, ref = np.zeros((2, k)), np.zeros((2, k))
    edema = CHEXPERT_LABELS.index("Edema")
    gen[:, edema], ref[:, edema] = [-1, 1], [1, 1]
    assert f1_values(gen, ref, "positive")["f1/Edema"] == 1.0
    assert f1_values(gen, ref, "negative")["f1/Edema"] == pytest.approx(2 / 3)
    assert f1_values(gen, ref, "ignore")["n/Edema"] == 1.0


def test_sembscore_is_the_cosine_of_crm_cls_embeddings(chexbert_weights, tiny_bert, tiny_chexbert):
    from transformers import BertModel, BertTokenizer
    metric = make_metric("sembscore", batch_size=4)
    metric.update(samples(PAIRS[:5]))
    values, rows = metric.compute(), metric.per_sample()
    # CRM encode.py: the checkpoint's `bert.*` weights in a plain BertModel, one report at a time, [CLS] of layer -1
    bert = BertModel.from_pretrained(tiny_bert).eval()
    state = torch.load(tiny_chexbert, map_location="cpu")["model_state_dict"]
    bert.load_state_dict({k[len("module.bert."):]: v for k, v in state.items() if k.startswith("module.bert.")})
    tokenizer = BertTokenizer.from_pretrained(tiny_bert)

    def embed(text):
        text = " ".join(text.strip().replace("\n", " ").split())
        ids = tokenizer.encode(text) if text else [tokenizer.cls_token_id, tokenizer.sep_token_id]
        with torch.no_grad():
            return bert(torch.tensor([ids]))[0][0, 0]
    for i, (hyp, ref) in enumerate(PAIRS[:5]):
        expected = torch.nn.functional.cosine_similarity(embed(ref), embed(hyp), dim=0).item()
        assert rows[f"s{i}"]["sembscore"] == pytest.approx(expected, abs=1e-5)
    assert rows["s0"]["sembscore"] == pytest.approx(1.0, abs=1e-6)
    assert values["sembscore"] == pytest.approx(np.mean([r["sembscore"] for r in rows.values()]))


def test_a_checkpoint_of_another_shape_is_refused(tmp_path, tiny_bert):
    from xgem_bench import weights
    state = {"model_state_dict": {"module.bert.embeddings.word_embeddings.weight": torch.zeros(3, 3)}}
    torch.save(state, tmp_path / "chexbert.pth")
    weights.import_file("chexbert", tmp_path / "chexbert.pth")
    weights.import_file("bert-base-uncased-config", tiny_bert)
    with pytest.raises(ValueError, match="is not a CheXbert checkpoint"):
        make_metric("chexbert-f1").update(samples(PAIRS[:1]))
