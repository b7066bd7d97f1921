"""BERTScore against the bert-score package (0.3.13) on the same tiny RoBERTa folder, with the package's own
distilroberta-base baseline file."""
from pathlib import Path

import numpy as np
import pytest

from xgem_bench.metrics import MetricUnavailable, get_metric_class

from report_samples import make_metric, samples

PAIRS = [("No acute cardiopulmonary process.", "No acute cardiopulmonary process."),
         ("Small left pleural effusion.", "Small left pleural effusion with mild pulmonary edema."),
         ("The heart size is normal.  Lungs are clear.", "Cardiomegaly with vascular congestion."),
         ("", "Right lower lobe consolidation, possibly pneumonia."),
         ("Support devices in place; no pneumothorax.", ""),
         ("Mild pulmonary edema. " * 150, "Pulmonary edema, mild.")]  # over 512 tokens: truncated as upstream


def test_missing_weights_name_the_fixing_command():
    assert "xgem-bench weights fetch distilroberta-base" in get_metric_class("bertscore").unavailable_reason()
    with pytest.raises(MetricUnavailable, match="weights fetch distilroberta-base"):
        make_metric("bertscore")


def test_matches_the_bert_score_package_rescaled_without_idf(bertscore_weights, tiny_roberta):
    import bert_score

    metric = make_metric("bertscore", batch_size=2)
    metric.update(samples(PAIRS[:2]))
    metric.update(samples(PAIRS)[2:])
    values, rows = metric.compute(), metric.per_sample()
    baseline = Path(bert_score.__file__).parent / "rescale_baseline" / "en" / "distilroberta-base.tsv"
    for rescale in (True, False):
        scorer = bert_score.BERTScorer(model_type=str(tiny_roberta), num_layers=5, lang="en", idf=False,
                                       rescale_with_baseline=rescale, baseline_path=str(baseline), device="cpu")
        p, r, f = scorer.score([h for h, _ in PAIRS], [ref for _, ref in PAIRS])
        if rescale:
            ours = np.array([[rows[f"s{i}"][k] for k in ("bertscore_precision", "bertscore_recall", "bertscore")]
                             for i in range(len(PAIRS))])
        else:
            plain = make_metric("bertscore", rescale_with_baseline=False)
            ours = plain.pair_scores([h for h, _ in PAIRS], [ref for _, ref in PAIRS])
        np.testing.assert_allclose(ours, np.stack([p.numpy(), r.numpy(), f.numpy()], axis=1), atol=2e-6)
    assert rows["s3"]["bertscore"] == pytest.approx((0 - 0.8473319) / (1 - 0.8473319), abs=1e-6)  # empty side
    assert values["n_empty"] == 2
    assert values["bertscore"] == pytest.approx(np.mean([r["bertscore"] for r in rows.values()]))


def test_settings_without_a_baseline_or_with_idf_are_refused(bertscore_weights):
    with pytest.raises(ValueError, match="no published baseline"):
        make_metric("bertscore", num_layers=9)
    with pytest.raises(ValueError, match="idf=false only"):
        make_metric("bertscore", idf=True)
