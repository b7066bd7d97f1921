"""BLEU: against NLTK itself (corpus and sentence level, its documented examples), pycocoevalcap's BleuScorer and
hand-computed COCO values."""
import math
import random
import warnings

import numpy as np
import pytest
from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu, sentence_bleu
from pycocoevalcap.bleu.bleu_scorer import BleuScorer

from xgem_bench.metrics.bleu import (bleu, bleu_from_rows, corpus_scores, intra_study_bleu, pair_stats,
                                     sentence_scores)
from xgem_bench.text import TextNormalization

from report_samples import make_metric, samples

# nltk/translate/bleu_score.py doctest fixtures
HYP1 = "It is a guide to action which ensures that the military always obeys the commands of the party".split()
HYP2 = "It is to insure the troops forever hearing the activity guidebook that party direct".split()
REF1A = "It is a guide to action that ensures that the military will forever heed Party commands".split()
REF1B = ("It is the guiding principle which guarantees the military forces always being under the command of the "
         "Party").split()
REF1C = "It is the practical guide for the army always to heed the directions of the party".split()
HYP3 = "he read the book because he was interested in world history".split()
REF3A = "he was interested in world history because he read the book".split()
UNIFORM = [(1.0,), (0.5, 0.5), (1 / 3,) * 3, (0.25,) * 4]
RAW = TextNormalization(lowercase=False, punctuation="keep")


@pytest.fixture(autouse=True)
def _quiet_nltk():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # NLTK warns on every zero n-gram order
        yield


def documented(value, text):
    """NLTK's doctests print truncated values ("0.5045..."): the value must start with those digits."""
    return f"{value:.12f}".startswith(text)


def stats(pairs, max_n=4):
    return np.stack([pair_stats(h, refs, max_n) for h, refs in pairs])


def test_nltk_corpus_doctest():
    s = stats([(HYP1, [REF1A, REF1B, REF1C]), (HYP3, [REF3A])])
    b1, b2, b3, b4 = corpus_scores(s, "nltk-corpus")
    assert documented(b4, "0.5920") and documented(b2, "0.8242")  # 0.8242... is NLTK's value for weights (.5, .5)
    assert [b1, b2, b3, b4] == pytest.approx(
        corpus_bleu([[REF1A, REF1B, REF1C], [REF3A]], [HYP1, HYP3], weights=UNIFORM), rel=1e-13)
    # the documented mean of sentence scores (0.6223...) is the nltk-mean convention
    assert documented(corpus_scores(s, "nltk-mean")[3], "0.6223")


def test_nltk_sentence_doctest():
    refs = [REF1A, REF1B, REF1C]
    _, b2, b3, b4 = sentence_scores(pair_stats(HYP1, refs))[0]
    assert documented(b2, "0.7453") and documented(b3, "0.6240") and documented(b4, "0.5045")
    assert documented(sentence_scores(pair_stats(HYP1, refs, max_n=5))[0, 4], "0.3920")
    assert round(sentence_scores(pair_stats(HYP2, refs))[0, 3], 4) == 0.0
    assert documented(sentence_scores(pair_stats(HYP2, refs), smoothing="method1")[0, 3], "0.0370")


@pytest.mark.parametrize("smoothing", ["none", "method1"])
def test_random_corpora_match_nltk_exactly(smoothing):
    """Random small corpora (empty hypotheses/references, several references, short sentences) vs NLTK itself."""
    rng = random.Random(7)
    words = "a b c d e f".split()
    function = SmoothingFunction().method1 if smoothing == "method1" else None
    for _ in range(150):
        hyps = [[rng.choice(words) for _ in range(rng.randint(0, 9))] for _ in range(rng.randint(1, 5))]
        refs = [[[rng.choice(words) for _ in range(rng.randint(0, 9))] for _ in range(rng.randint(1, 3))]
                for _ in hyps]
        s = stats(list(zip(hyps, refs)))
        expected = corpus_bleu(refs, hyps, weights=UNIFORM, smoothing_function=function)
        expected = expected if isinstance(expected, list) else [expected] * 4
        np.testing.assert_allclose(corpus_scores(s, "nltk-corpus", smoothing), expected, rtol=1e-12, atol=0)
        sentence = [[sentence_bleu(r, h, weights=w, smoothing_function=function) for w in UNIFORM]
                    for h, r in zip(hyps, refs)]
        np.testing.assert_allclose(corpus_scores(s, "nltk-mean", smoothing), np.mean(sentence, axis=0), rtol=1e-12)


def test_bleu_on_strings_uses_the_normalisation():
    text = [" ".join(HYP1), " ".join(HYP3)]
    refs = [[" ".join(REF1A), " ".join(REF1B), " ".join(REF1C)], " ".join(REF3A)]
    raw = bleu(text, refs, normalization=RAW)
    assert raw["bleu4"] == pytest.approx(corpus_bleu([[REF1A, REF1B, REF1C], [REF3A]], [HYP1, HYP3]), rel=1e-13)
    assert bleu(["No effusion."], ["no effusion"], normalization=RAW)["bleu1"] == 0
    assert bleu(["No effusion."], ["no effusion"])["bleu1"] == pytest.approx(2 / 3)  # "no", "effusion" of 3


# ---- COCO (pycocoevalcap BleuScorer) --------------------------------------------------------------------------
def coco_reference(pairs, n=4):
    """pycocoevalcap's own BleuScorer, as its `Bleu.compute_score` runs it (option 'closest'), on space-joined tokens:
    the corpus values and the per-sentence values (one row per pair)."""
    scorer = BleuScorer(n=n)
    for hyp, refs in pairs:
        scorer += (" ".join(hyp), [" ".join(r) for r in refs])
    corpus, per_order = scorer.compute_score(option="closest", verbose=0)
    return corpus, np.array(per_order).T.tolist()


def test_coco_by_hand():
    hyp, ref = "the cat sat on the mat".split(), "the cat is on the mat".split()
    # matches/guesses by hand: unigrams 5/6, bigrams 3/5 (the cat, on the, the mat), trigrams 1/4 (on the mat), 0/3
    b = sentence_scores(pair_stats(hyp, [ref]), "coco-corpus")[0]
    assert b[0] == pytest.approx(5 / 6, rel=1e-9)
    assert b[1] == pytest.approx(math.sqrt(5 / 6 * 3 / 5), rel=1e-9)
    assert b[2] == pytest.approx((5 / 6 * 3 / 5 * 1 / 4) ** (1 / 3), rel=1e-9)
    assert b[3] == pytest.approx((5 / 6 * 3 / 5 * 1 / 4 * 1e-15 / 3) ** (1 / 4), rel=1e-6)  # tiny, never exactly 0
    # brevity: 2 of 6 words, every n-gram matches -> exp(1 - 6/2) at every order with a match
    short = sentence_scores(pair_stats("the cat".split(), [ref]), "coco-corpus")[0]
    assert short[:2] == pytest.approx([math.exp(-2)] * 2, rel=1e-6)
    # corpus: counts are summed before dividing -> (5+2)/(6+2) unigrams, lengths 8 vs 12
    both = corpus_scores(stats([(hyp, [ref]), ("the cat".split(), [ref])]), "coco-corpus")
    assert both[0] == pytest.approx(7 / 8 * math.exp(1 - 12 / 8), rel=1e-6)
    assert both[1] == pytest.approx(math.sqrt(7 / 8 * 4 / 6) * math.exp(1 - 12 / 8), rel=1e-6)


def test_coco_matches_pycocoevalcap_bleu_scorer():
    rng = random.Random(3)
    words = "a b c d e".split()
    for _ in range(100):
        pairs = [([rng.choice(words) for _ in range(rng.randint(0, 8))],
                  [[rng.choice(words) for _ in range(rng.randint(0, 8))] for _ in range(rng.randint(1, 3))])
                 for _ in range(rng.randint(1, 4))]
        corpus, per_sentence = coco_reference(pairs)
        s = stats(pairs)
        np.testing.assert_allclose(corpus_scores(s, "coco-corpus"), corpus, rtol=1e-9)
        np.testing.assert_allclose(sentence_scores(s, "coco-corpus"), per_sentence, rtol=1e-9)
        np.testing.assert_allclose(corpus_scores(s, "coco-mean"), np.mean(per_sentence, axis=0), rtol=1e-9)


def test_nltk_and_coco_agree_when_every_order_matches():
    pairs = [(HYP1, [REF1A, REF1B, REF1C]), (HYP3, [REF3A])]
    assert corpus_scores(stats(pairs), "coco-corpus") == pytest.approx(corpus_scores(stats(pairs)), abs=1e-8)


# ---- empty text ---------------------------------------------------------------------------------------------------
def test_empty_hypothesis_and_reference_are_scored_like_upstream():
    assert bleu([""], ["no effusion"]) == {f"bleu{n}": 0.0 for n in range(1, 5)}
    assert sentence_bleu([["no", "effusion"]], []) == 0  # NLTK's own value for an empty hypothesis
    assert bleu(["no effusion"], [""])["bleu1"] == sentence_bleu([[]], ["no", "effusion"]) == 0
    coco = bleu(["", "no effusion"], ["no effusion", ""], convention="coco-mean")
    assert 0 <= coco["bleu1"] < 1e-9
    assert coco["bleu1"] == pytest.approx(np.mean([r[0] for r in coco_reference(
        [([], [["no", "effusion"]]), (["no", "effusion"], [[]])])[1]]), rel=1e-9)




PAIRS = [("No acute cardiopulmonary process.", "No acute cardiopulmonary abnormality."),
         ("Small left pleural effusion.", "Small bilateral pleural effusions, left greater than right."),
         ("", "Normal chest."),
         ("Heart size is normal. Lungs are clear.", ""),
         ("Mild pulmonary edema.", "Mild pulmonary edema. No pneumothorax.")]


@pytest.mark.parametrize("convention", ["nltk-corpus", "nltk-mean", "coco-corpus", "coco-mean"])
def test_metric_equals_function_counts_empties_and_records_rows(convention):
    metric = make_metric("bleu", convention=convention)
    metric.update(samples(PAIRS[:2]))
    metric.update(samples(PAIRS)[2:])
    values = metric.compute()
    expected = bleu([h for h, _ in PAIRS], [r for _, r in PAIRS], convention=convention)
    assert {k: values[k] for k in expected} == pytest.approx(expected, rel=1e-12)
    assert (values["n"], values["n_empty_hypothesis"], values["n_empty_reference"]) == (5, 1, 1)
    rows = metric.per_sample()
    assert list(rows) == [f"s{i}" for i in range(5)]
    # the recorded statistics reproduce the corpus value exactly (what a bootstrap resample needs)
    assert bleu_from_rows(rows.values(), convention) == pytest.approx(expected, rel=1e-12)
    sentence = bleu(["Mild pulmonary edema."], ["Mild pulmonary edema. No pneumothorax."], convention=convention)
    assert rows["s4"]["bleu4"] == pytest.approx(sentence["bleu4"], rel=1e-12)


def test_metric_state_merges_across_ranks():
    whole, left, right = make_metric("bleu"), make_metric("bleu"), make_metric("bleu")
    whole.update(samples(PAIRS))
    left.update(samples(PAIRS)[:3])
    right.update(samples(PAIRS)[3:])
    left.merge_state(right.state_dict())
    assert left.compute() == whole.compute()


def test_metric_settings_and_signature():
    metric = make_metric("bleu", convention="coco-corpus", punctuation="strip")
    assert metric.signature == ("bleu|convention:coco-corpus|lowercase:True|max_n:4|punctuation:strip|"
                                "smoothing:none|tokenizer:whitespace")
    for bad in ({"convention": "sacrebleu"}, {"smoothing": "method9"}, {"convention": "coco-corpus",
                                                                         "smoothing": "method1"},
                {"max_n": 0}, {"tokenizer": "punkt"}, {"weights": [1]}):
        with pytest.raises(ValueError):
            make_metric("bleu", **bad)


def test_very_long_report():
    long = " ".join(["small left pleural effusion"] * 5000)
    values = bleu([long], [long])
    assert values == pytest.approx({f"bleu{n}": 1.0 for n in range(1, 5)})


# ---- intra-study BLEU (paper Table A2) ------------------------------------------------------------------------------
def test_intra_study_bleu():
    a, b = "small left pleural effusion", "small right pleural effusion"
    result = intra_study_bleu({"s1": [a, b], "s2": [a, a], "s3": [b], "s4": [a, ""]})
    assert (result["n_studies"], result["n_reports"], result["n_skipped_studies"]) == (2, 4, 2)
    # each report is scored against the other reports of its study, aggregated like corpus BLEU
    tok = str.split
    expected = corpus_bleu([[tok(b)], [tok(a)], [tok(a)], [tok(a)]], [tok(a), tok(b), tok(a), tok(a)],
                           weights=UNIFORM)
    assert [result[f"bleu{n}"] for n in range(1, 5)] == pytest.approx(expected, rel=1e-12)
    # three scans: every report has the two others as references
    three = intra_study_bleu({"s": [a, b, a]}, convention="nltk-mean")
    assert three["n_reports"] == 3
    assert three["bleu4"] == pytest.approx(np.mean([sentence_bleu([tok(b), tok(a)], tok(a)),
                                                    sentence_bleu([tok(a), tok(a)], tok(b)),
                                                    sentence_bleu([tok(a), tok(b)], tok(a))]), rel=1e-12)


def test_short_identical_reports_follow_nltk_denominator_floor():
    """NLTK floors each report's n-gram denominator at 1, so an identical 3-token report lowers corpus BLEU-4 below 1
    (COCO does not); the oracle of a run therefore scores just under 1 with the default convention."""
    texts = ["no acute process", "small left pleural effusion again"]
    nltk = bleu(texts, texts)["bleu4"]
    assert nltk < 1 and nltk == pytest.approx(corpus_bleu([[t.split()] for t in texts], [t.split() for t in texts]))
    assert bleu(texts, texts, convention="coco-corpus")["bleu4"] == pytest.approx(1.0)


def test_rexrank_bleu2_matches_fast_bleu_vectors():
    """CXR-Report-Metric's BLEU column: its tokens (lower-case, ' .' before periods, split on spaces only) and
    fast_bleu's sentence BLEU-2 (weights 1/2, 1/2, NLTK method1 smoothing); vectors computed with fast-bleu 0.0.90
    (shared/docs/research/report-metrics-rexrank.md §1)."""
    from xgem_bench.metrics.bleu import bleu as bleu_of
    from xgem_bench.metrics.radcliq import REXRANK_BLEU
    from xgem_bench.text import TextNormalization
    norm = TextNormalization.from_settings(REXRANK_BLEU)
    assert norm.tokens("No acute.\nThe  heart, ok.") == ["no", "acute", ".\nthe", "heart,", "ok", "."]
    ref = "no acute cardiopulmonary process."
    for hyp, expected in (("no acute process.", 0.6358881766016378), ("x acute", 0.04989342059223037),
                          ("zzz", 0.0)):
        value = bleu_of([hyp], [ref], convention=REXRANK_BLEU["convention"], smoothing=REXRANK_BLEU["smoothing"],
                        normalization=norm)["bleu2"]
        assert value == pytest.approx(expected, abs=1e-15)
    with pytest.raises(ValueError, match="punctuation=keep"):
        TextNormalization(tokenizer="cxr-report-metric", punctuation="split")
