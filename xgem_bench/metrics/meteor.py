"""METEOR of generated reports against the real report, following NLTK's `meteor_score` (Lavie & Agarwal 2007).

Alignment in NLTK's order of stages, each on the words the earlier stages left unmatched: exact words, then Porter
stems, then (setting ``synonyms``) WordNet synonyms. Within a stage the hypothesis is scanned from its last word
backwards and each word takes the latest still-unmatched reference word that matches. Then, with m matches,
P = m/|hyp|, R = m/|ref|, Fmean = P·R / (alpha·P + (1 - alpha)·R), chunks = runs of matches adjacent in both
texts, penalty = gamma·(chunks/m)^beta, and METEOR = (1 - penalty)·Fmean (0 when nothing matches or a text is
empty). The value is the mean over reports.

``synonyms=false`` (default) skips the WordNet stage: NLTK's WordNet data cannot be downloaded on machines without
internet, so the default must not depend on it. Published METEOR numbers computed with NLTK and WordNet are then
slightly higher (synonym matches add to m); the setting is recorded in every result. ``synonyms=true`` needs NLTK's
``wordnet`` corpus (``python -m nltk.downloader wordnet`` on a machine with internet).

This is not the Java METEOR 1.5 of the COCO caption tools (paraphrase tables, different parameters).
"""
from __future__ import annotations

from functools import cached_property, lru_cache
from typing import Callable, Iterable, Sequence

from xgem_bench.metrics.base import MetricUnavailable, PerSampleMean
from xgem_bench.text import TextNormalization

#: synonyms of a word: the lemma names of its WordNet synsets (multi-word lemmas excluded, as NLTK does)
SynonymLookup = Callable[[str], Iterable[str]]


def _match_stage(hyp: list[tuple[int, str]], ref: list[tuple[int, str]],
                 candidates: Callable[[str], Iterable[str]]) -> tuple[list[tuple[int, int]], list, list]:
    """One alignment stage: (matches as (hyp position, ref position), unmatched hyp, unmatched ref)."""
    where: dict[str, list[int]] = {}
    for j, (_, word) in enumerate(ref):
        where.setdefault(word, []).append(j)
    matches, used_hyp, used_ref = [], set(), set()
    for i in range(len(hyp) - 1, -1, -1):
        best, best_word = -1, None
        for word in candidates(hyp[i][1]):
            free = where.get(word)
            if free and free[-1] > best:
                best, best_word = free[-1], word
        if best_word is not None:
            where[best_word].pop()
            used_hyp.add(i)
            used_ref.add(best)
            matches.append((hyp[i][0], ref[best][0]))
    return (matches, [w for i, w in enumerate(hyp) if i not in used_hyp],
            [w for j, w in enumerate(ref) if j not in used_ref])


def align(hypothesis: Sequence[str], reference: Sequence[str], stem: Callable[[str], str],
          synonyms: SynonymLookup | None = None) -> list[tuple[int, int]]:
    """Matched (hypothesis position, reference position) pairs sorted by hypothesis position."""
    hyp, ref = list(enumerate(hypothesis)), list(enumerate(reference))
    exact, hyp, ref = _match_stage(hyp, ref, lambda word: (word,))
    stems_hyp = [(i, stem(word)) for i, word in hyp]
    stems_ref = [(j, stem(word)) for j, word in ref]
    stemmed, hyp, ref = _match_stage(stems_hyp, stems_ref, lambda word: (word,))
    matches = exact + stemmed
    if synonyms is not None:  # as in NLTK, on the stems the stem stage left unmatched
        matches += _match_stage(hyp, ref, lambda word: {word, *synonyms(word)})[0]
    return sorted(matches)


def chunk_count(matches: Sequence[tuple[int, int]]) -> int:
    """Fewest runs of matches adjacent in both the hypothesis and the reference."""
    return 1 + sum(not (b[0] == a[0] + 1 and b[1] == a[1] + 1) for a, b in zip(matches, matches[1:]))


def meteor(hypothesis: Sequence[str], reference: Sequence[str], stem: Callable[[str], str],
           synonyms: SynonymLookup | None = None, alpha: float = 0.9, beta: float = 3.0, gamma: float = 0.5) -> float:
    """METEOR of one tokenised hypothesis against one tokenised reference."""
    if not hypothesis or not reference:
        return 0.0
    matches = align(hypothesis, reference, stem, synonyms)
    if not matches:
        return 0.0
    precision, recall = len(matches) / len(hypothesis), len(matches) / len(reference)
    fmean = precision * recall / (alpha * precision + (1 - alpha) * recall)
    return (1 - gamma * (chunk_count(matches) / len(matches)) ** beta) * fmean


def wordnet_synonyms(wordnet) -> SynonymLookup:
    """The synonym lookup of NLTK's METEOR over a WordNet reader (anything with `synsets(word)`)."""
    def lookup(word: str) -> set[str]:
        return {lemma.name() for synset in wordnet.synsets(word) for lemma in synset.lemmas()
                if "_" not in lemma.name()}
    return lookup


def _wordnet_missing() -> str | None:
    try:
        from nltk.corpus import wordnet
        wordnet.ensure_loaded()
    except LookupError:
        return ("METEOR with synonyms=true needs NLTK's WordNet data: run `python -m nltk.downloader wordnet` on a "
                "machine with internet (or copy nltk_data/corpora/wordnet), or use synonyms=false")
    return None


class METEOR(PerSampleMean):
    name = "meteor"
    kind = "text"
    primary = "meteor"

    @classmethod
    def default_settings(cls):
        # whitespace tokens kept as they are, lower-cased: what callers of nltk's meteor_score usually pass
        return {"synonyms": False, "alpha": 0.9, "beta": 3.0, "gamma": 0.5, "stemmer": "porter",
                **TextNormalization(lowercase=True, punctuation="strip").settings()}

    @classmethod
    def allowed_settings(cls):
        return {"synonyms": (False, True), "stemmer": ("porter",)}

    @classmethod
    def unavailable_reason(cls, settings=None):
        return _wordnet_missing() if (settings or {}).get("synonyms") else None

    def __init__(self, context, **settings):
        super().__init__(context, **settings)
        if not 0 < self.settings["alpha"] <= 1 or self.settings["beta"] < 0 or not 0 <= self.settings["gamma"] <= 1:
            raise ValueError("meteor needs 0 < alpha <= 1, beta >= 0 and 0 <= gamma <= 1")
        self.normalization = TextNormalization.from_settings(self.settings)

    @cached_property
    def _stem(self) -> Callable[[str], str]:
        from nltk.stem.porter import PorterStemmer
        return lru_cache(maxsize=1 << 16)(PorterStemmer().stem)  # reports repeat words: stem each once

    @cached_property
    def _synonyms(self) -> SynonymLookup | None:
        if not self.settings["synonyms"]:
            return None
        reason = _wordnet_missing()
        if reason:
            raise MetricUnavailable(reason)
        from nltk.corpus import wordnet
        return wordnet_synonyms(wordnet)

    def score(self, generated, reference) -> float:
        return meteor(self.normalization.tokens(generated), self.normalization.tokens(reference), self._stem,
                      self._synonyms, self.settings["alpha"], self.settings["beta"], self.settings["gamma"])
