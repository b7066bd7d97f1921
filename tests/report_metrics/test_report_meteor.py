"""METEOR against NLTK's meteor_score on the same tokens.

What the parity covers: the exact and Porter-stem stages, the fragmentation penalty and the F-mean, with WordNet
disabled (a reader whose synsets are empty: our default `synonyms=false`), and the synonym stage with a small
synthetic WordNet reader passed to both implementations. NLTK's real WordNet data is not installed here, so the
parity with real WordNet synonyms is tested only where that data exists.
"""
import random

import pytest
from nltk.stem.porter import PorterStemmer
from nltk.translate.meteor_score import single_meteor_score

from xgem_bench.metrics.meteor import METEOR, meteor, wordnet_synonyms
from xgem_bench.text import TextNormalization

from report_samples import make_metric, samples

WORDS = ("no acute effusion effusions fluid liquid opacity opacities consolidation consolidations normal unremarkable "
         "lung lungs pulmonary the of is heart size").split()


class _Lemma:
    def __init__(self, name):
        self._name = name

    def name(self):
        return self._name


class _Synset:
    def __init__(self, names):
        self._names = names

    def lemmas(self):
        return [_Lemma(n) for n in self._names]


class TinyWordNet:
    """The part of NLTK's WordNet reader METEOR uses: synsets(word) -> lemmas() -> name(); keys are Porter stems,
    as NLTK looks synonyms up for the stems left unmatched; multi-word lemmas (with "_") are ignored by both."""
    groups = [["effus", "fluid", "liquid"], ["opac", "consolid", "densiti"], ["normal", "unremark", "clear_lung"],
              ["lung", "pulmonari"], ["heart", "cardiac"]]

    def synsets(self, word):
        return [_Synset(g) for g in self.groups if word in g]


class NoWordNet:
    def synsets(self, word):
        return []


def random_tokens(rng):
    return [rng.choice(WORDS) for _ in range(rng.randint(0, 30))]


@pytest.mark.parametrize("wordnet", [NoWordNet(), TinyWordNet()], ids=["no-synonyms", "tiny-wordnet"])
def test_equals_nltk_meteor(wordnet):
    rng = random.Random(5)
    stem = PorterStemmer().stem
    synonyms = None if isinstance(wordnet, NoWordNet) else wordnet_synonyms(wordnet)
    for _ in range(800):
        hyp, ref = random_tokens(rng), random_tokens(rng)
        assert meteor(hyp, ref, stem, synonyms) == pytest.approx(single_meteor_score(ref, hyp, wordnet=wordnet),
                                                                 abs=1e-12)


def test_parameters_equal_nltk():
    rng = random.Random(8)
    stem = PorterStemmer().stem
    for alpha, beta, gamma in [(0.85, 0.2, 0.6), (0.5, 1.0, 0.0), (1.0, 3.0, 1.0)]:
        for _ in range(200):
            hyp, ref = random_tokens(rng), random_tokens(rng)
            ours = meteor(hyp, ref, stem, None, alpha, beta, gamma)
            assert ours == pytest.approx(single_meteor_score(ref, hyp, wordnet=NoWordNet(), alpha=alpha, beta=beta,
                                                             gamma=gamma), abs=1e-12)


def test_metric_tokenises_then_scores_like_nltk():
    rng = random.Random(9)
    pairs = [(" ".join(random_tokens(rng)).capitalize() + ".", " ".join(random_tokens(rng)) + ",") for _ in range(50)]
    metric = make_metric("meteor")
    metric.update(samples(pairs))
    norm = TextNormalization(lowercase=True, punctuation="strip")
    expected = [single_meteor_score(norm.tokens(r), norm.tokens(h), wordnet=NoWordNet()) for h, r in pairs]
    assert [metric.per_sample()[f"s{i}"]["meteor"] for i in range(len(pairs))] == pytest.approx(expected, abs=1e-12)
    assert metric.compute()["meteor"] == pytest.approx(sum(expected) / len(expected), abs=1e-12)
    assert "synonyms:False" in metric.signature


def test_nltk_documented_value_without_synonyms():
    # nltk's doctest example (0.6944 with WordNet): its three matches are all exact or stems, so no synonym is needed
    hypothesis = ["It", "is", "a", "guide", "to", "action", "which", "ensures", "that", "the", "military", "always",
                  "obeys", "the", "commands", "of", "the", "party"]
    reference = ["It", "is", "a", "guide", "to", "action", "that", "ensures", "that", "the", "military", "will",
                 "forever", "heed", "Party", "commands"]
    lower = [w.lower() for w in hypothesis], [w.lower() for w in reference]
    assert round(meteor(*lower, PorterStemmer().stem), 4) == 0.6944


def test_synonyms_need_wordnet_data():
    reason = METEOR.unavailable_reason({**METEOR.default_settings(), "synonyms": True})
    try:
        from nltk.corpus import wordnet
        wordnet.ensure_loaded()
    except LookupError:
        assert reason and "nltk.downloader wordnet" in reason
    else:
        assert reason is None
    assert METEOR.unavailable_reason(METEOR.default_settings()) is None
