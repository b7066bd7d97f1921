"""RadCliQ-v1: the published composite on hand-computed inputs and a published leaderboard row, the inverse's
interval, and the whole path (its four inputs from this suite's metrics with tiny models in upstream formats)."""
import numpy as np
import pytest

from xgem_bench.metrics import get_metric_class
from xgem_bench.metrics.radcliq import COEFFICIENTS, INTERCEPT, MEAN, SCALE, radcliq_v1, values_from

from report_samples import make_metric, samples


def test_published_constants_on_hand_computed_inputs():
    # at the scaler's mean every standardised input is 0: the score is the intercept
    assert radcliq_v1(MEAN[None])[0] == pytest.approx(INTERCEPT, abs=1e-15)
    # one standard deviation up in RadGraph alone moves the score by RadGraph's coefficient, -0.37708368261038905
    x = MEAN.copy()
    x[0] += SCALE[0]
    assert radcliq_v1(x[None])[0] == pytest.approx(-0.37708368261038905 + INTERCEPT, abs=1e-12)
    # BLEU's coefficient is ~4e-12: BLEU-2 has no effect
    y = MEAN.copy()
    y[3] = 1.0
    assert abs(radcliq_v1(y[None])[0] - INTERCEPT) < 1e-11
    # by hand: [RadGraph .4, BERTScore .5, SembScore .6, BLEU .2]
    by_hand = (-0.37708368261038905 * (0.4 - 0.5379231241355762) / 0.3028258411486429
               - 0.37030009974480316 * (0.5 - 0.6175725628125001) / 0.22430938459304575
               - 0.25261621789593225 * (0.6 - 0.7647942121140658) / 0.2539439110169773
               + 4.315048405024756e-12 * (0.2 - 0.44738335396242174) / 0.2989271671041838 + 2.466552561323256e-10)
    assert radcliq_v1(np.array([[0.4, 0.5, 0.6, 0.2]]))[0] == pytest.approx(by_hand, abs=1e-14)
    assert len(COEFFICIENTS) == 4


def test_reproduces_a_published_rexrank_row():
    # ReXrank MIMIC-CXR, MedVersa: RadGraph .273, BertScore .430, SembScore .315, BLEU .193 (3 dp as published);
    # published RadCliQ-v1 1.088 (main branch) and 1/RadCliQ-v1 0.919 (gh-pages)
    value = values_from(radcliq_v1(np.array([[0.273, 0.430, 0.315, 0.193]])))
    assert value["radcliq_v1"] == pytest.approx(1.088, abs=0.002)
    assert value["inv_radcliq_v1"] == pytest.approx(0.919, abs=0.002)


def test_inverse_is_one_over_the_mean_not_the_mean_of_inverses():
    values = values_from(np.array([0.5, 2.0]))
    assert values["radcliq_v1"] == 1.25 and values["inv_radcliq_v1"] == pytest.approx(0.8)


def test_needs_all_four_inputs():
    reason = get_metric_class("radcliq-v1").unavailable_reason()
    for weight in ("radgraph", "distilroberta-base", "chexbert"):
        assert f"weights fetch {weight}" in reason


@pytest.mark.slow
def test_whole_path_combines_the_suite_metrics(radgraph_weights, chexbert_weights, bertscore_weights):
    pairs = [("No acute cardiopulmonary process.", "No acute cardiopulmonary process."),
             ("Small left pleural effusion.", "Small left pleural effusion with mild edema."),
             ("Cardiomegaly.", "Heart size is normal. No effusion.")]
    metric = make_metric("radcliq-v1", batch_size=2)
    metric.update(samples(pairs[:2]))
    metric.update(samples(pairs)[2:])
    values, rows = metric.compute(), metric.per_sample()
    # each input is what the metric of that name gives with the preset's settings
    from xgem_bench.metrics.radcliq import INPUT_METRICS
    for key, (name, settings, value) in INPUT_METRICS.items():
        alone = make_metric(name, **settings)
        alone.update(samples(pairs))
        assert [rows[f"s{i}"][key] for i in range(3)] == pytest.approx(
            [alone.per_sample()[f"s{i}"][value] for i in range(3)], abs=1e-9), key
    for i in range(3):
        row = rows[f"s{i}"]
        inputs = [row["radgraph_combined"], row["bertscore"], row["sembscore"], row["bleu2"]]
        assert row["radcliq_v1"] == pytest.approx(radcliq_v1(np.array([inputs]))[0])
    assert values["inv_radcliq_v1"] == pytest.approx(1 / np.mean([r["radcliq_v1"] for r in rows.values()]))
    assert "radgraph-f1|" in metric.settings["input:radgraph_combined"]
