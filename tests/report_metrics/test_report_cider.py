"""CIDEr-D against pycocoevalcap's Cider on the same tokenised texts: per-report scores and the set's mean."""
import random

import pytest
from pycocoevalcap.cider.cider import Cider

from xgem_bench.metrics.cider import cider_scores
from xgem_bench.text import TextNormalization

from report_samples import make_metric, samples

WORDS = "no acute effusion fluid the of is lung opacity pneumothorax left right small".split()


def pycoco(hypotheses, references):
    gts = {i: [" ".join(r)] for i, r in enumerate(references)}
    res = {i: [" ".join(h)] for i, h in enumerate(hypotheses)}
    mean, per_report = Cider().compute_score(gts, res)
    return mean, list(per_report)


def test_random_sets_equal_pycocoevalcap():
    rng = random.Random(2)
    for _ in range(150):
        n = rng.randint(1, 15)
        hyps = [[rng.choice(WORDS) for _ in range(rng.randint(0, 25))] for _ in range(n)]
        refs = [[rng.choice(WORDS) for _ in range(rng.randint(0, 25))] for _ in range(n)]
        mean, per_report = pycoco(hyps, refs)
        ours = cider_scores(hyps, refs)
        assert ours == pytest.approx(per_report, abs=1e-10)
        assert sum(ours) / n == pytest.approx(mean, abs=1e-10)


def test_metric_equals_pycocoevalcap_and_merges_across_ranks():
    rng = random.Random(4)
    pairs = [(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 20))) + ".",
              " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 20))).upper()) for _ in range(40)]
    norm = TextNormalization(lowercase=True, punctuation="strip")
    mean, per_report = pycoco([norm.tokens(h) for h, _ in pairs], [norm.tokens(r) for _, r in pairs])
    whole, first, second = make_metric("cider"), make_metric("cider"), make_metric("cider")
    whole.update(samples(pairs))
    both = samples(pairs)
    first.update(both[:15])
    second.update(both[15:])
    first.merge_state(second.state_dict())  # two ranks: the IDF must still come from all references
    for metric in (whole, first):
        values = metric.compute()
        assert values["cider"] == pytest.approx(mean, abs=1e-10) and values["n"] == 40
        assert [metric.per_sample()[f"s{i}"]["cider"] for i in range(40)] == pytest.approx(per_report, abs=1e-10)
    assert whole.compute() == whole.compute()  # compute() twice gives the same rows, not duplicates
    assert len(whole.per_sample_rows) == 40


def test_one_study_scores_zero_as_upstream():
    assert cider_scores([["a", "b"]], [["a", "b"]]) == pycoco([["a", "b"]], [["a", "b"]])[1] == [0.0]
