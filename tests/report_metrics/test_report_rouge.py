"""ROUGE-1/2/L against Google's rouge-score package on the same texts (tokens, per-report F, mean, stemming)."""
import random

import pytest
from rouge_score import rouge_scorer

from xgem_bench.metrics.rouge import lcs_length, rouge_tokens

from report_samples import make_metric, samples

WORDS = ["no", "acute", "effusion", "effusions", "Pleural,", "x_ray", "café", "L4-5", "cardiopulmonary", "the", "of",
         "is", "normal.", "NORMAL", "", "\n"]


def random_text(rng, longest=40):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, longest)))


@pytest.mark.parametrize("use_stemmer", [False, True])
def test_per_report_and_mean_equal_rouge_score(use_stemmer):
    rng = random.Random(11)
    pairs = [(random_text(rng), random_text(rng)) for _ in range(400)]
    metric = make_metric("rouge", use_stemmer=use_stemmer)
    metric.update(samples(pairs))
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=use_stemmer)
    expected = [scorer.score(ref, hyp) for hyp, ref in pairs]  # rouge-score takes (target, prediction)
    per_sample = metric.per_sample()
    for i, upstream in enumerate(expected):
        for key in ("rouge1", "rouge2", "rougeL"):
            assert per_sample[f"s{i}"][key] == pytest.approx(upstream[key].fmeasure, abs=1e-12)
    values = metric.compute()
    for key in ("rouge1", "rouge2", "rougeL"):
        assert values[key] == pytest.approx(sum(e[key].fmeasure for e in expected) / len(expected), abs=1e-12)
    assert values["n"] == len(pairs)


def test_tokens_equal_rouge_score_tokenizer():
    scorer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)
    from nltk.stem import porter
    text = "Small L pleural EFFUSIONS, café-au-lait x_ray 3.5cm; unchanged since 2019."
    assert rouge_tokens(text, porter.PorterStemmer()) == scorer._tokenizer.tokenize(text)


def test_bit_parallel_lcs_equals_dynamic_programming():
    rng = random.Random(3)
    for _ in range(300):
        a = [rng.choice("abcd") for _ in range(rng.randint(0, 70))]
        b = [rng.choice("abcd") for _ in range(rng.randint(0, 70))]
        table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
        for i in range(len(a)):
            for j in range(len(b)):
                table[i + 1][j + 1] = table[i][j] + 1 if a[i] == b[j] else max(table[i][j + 1], table[i + 1][j])
        assert lcs_length(a, b) == table[-1][-1]


def test_known_value_and_settings_recorded():
    # rouge-score's README example, by hand: 6 shared unigrams (the x2, quick, brown, dog, jumps), 8 predicted and 9
    # reference tokens: P = 6/8, R = 6/9, F = 12/17; LCS "the quick brown jumps the" = 5: F = 2·(5/8)(5/9)/(5/8+5/9)
    metric = make_metric("rouge")
    metric.update(samples([("The quick brown dog jumps on the log.", "The quick brown fox jumps over the lazy dog")]))
    values = metric.compute()
    assert values["rouge1"] == pytest.approx(12 / 17) and values["rougeL"] == pytest.approx(10 / 17)
    assert metric.signature == "rouge|tokenizer:rouge-score|use_stemmer:False"
    with pytest.raises(ValueError, match="use_stemmer"):
        make_metric("rouge", use_stemmer="yes")
