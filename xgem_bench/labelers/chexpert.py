"""A fast, offline re-implementation of the CheXpert labeler (Irvin et al., AAAI 2019; chexpert-labeler).

Stages, as in the original:

1. **clean** the text exactly like ``loader/load.py`` (lower-case, "and/or" -> "or", "a/b" -> "a or b", "..", a space
   after "." and ",", collapse whitespace) and split it into sentences;
2. **extract mentions** with the MIT phrase files (``chexpert_rules/phrases``): every phrase is a regular expression
   searched as a substring of each sentence, "_" stands for a space; a match overlapping an unmention match of the same
   observation is dropped; the Cardiomegaly and Enlarged Cardiomediastinum unmention lists are generated from
   positional prefixes ("over the", "in the left", ...) as the original does;
3. **classify** each mention: pre-negation uncertainty, then negation, then post-negation uncertainty. The original
   matches NegBio dependency patterns on a BLLIP parse; here the same pattern families are lexical triggers
   (``chexpert_triggers.py``) with forward/backward scope, clause breaks, copula-predicate handling and
   coordination ("no pneumothorax, effusion or consolidation"; "heart and mediastinum are normal"; "X or Y");
4. **aggregate** mentions per observation with chexpert-labeler's precedence, add the heart-failure rule ("chf" or
   "heart failure" positive/uncertain -> uncertain Cardiomegaly) and the No Finding rule.

Values: 1.0 positive, 0.0 negative, -1.0 uncertain, NaN blank (not mentioned). Columns: ``CHEXPERT_LABELS``.
Steps 1, 2 and 4 are exact; step 3 is the parser-free approximation measured in docs/metrics/chexpert.md.
"""
from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from xgem_bench.data.study import CHEXPERT_LABELS
from xgem_bench.labelers import chexpert_triggers as lex
from xgem_bench.labelers.chexpert_phrases import (CARDIOMEGALY, Phrase, clean, load_phrases, positional_unmentions,
                                                  shipped_rules_dir, split_sentences)

#: what a result computed with this labeler records: the rule version (bumped whenever labels can change) and the
#: negation/uncertainty engine (lexical triggers with scope rules; a dependency parse was measured too slow)
LABELER_SETTINGS = {"labeler": "xgem-chexpert-rules-2", "labeler_engine": "lexical-scope"}

POSITIVE, NEGATIVE, UNCERTAIN = 1.0, 0.0, -1.0
NO_FINDING, SUPPORT_DEVICES = "No Finding", "Support Devices"
_COLUMN = {name: i for i, name in enumerate(CHEXPERT_LABELS)}

_TOKEN = re.compile(r"[a-z0-9]+(?:['\-][a-z0-9]+)*|\S")
# scope limits in tokens: modal verbs reach this far forward, noun-phrase triggers (no, normal, ...) less far;
# a backward trigger must follow its subject within this many tokens
_FORWARD_WINDOW, _PHRASE_WINDOW, _BACKWARD_WINDOW = 20, 16, 12


@dataclass(frozen=True)
class Mention:
    observation: str
    sentence: int
    start: int  # character offsets in the cleaned sentence
    end: int
    text: str
    value: float
    reason: str  # the trigger that decided the value ("" for a plain positive)


class CheXpertLabeler:
    """Label reports with the CheXpert observations. Thread-safe after construction; build once and reuse."""

    def __init__(self, rules_dir: str | Path | None = None):
        rules = Path(rules_dir) if rules_dir is not None else shipped_rules_dir()
        mention_dir, unmention_dir = rules / "phrases" / "mention", rules / "phrases" / "unmention"
        if not mention_dir.is_dir():
            raise FileNotFoundError(f"CheXpert phrase files not found under {rules}; expected phrases/mention/*.txt")
        mentions = load_phrases(mention_dir)
        unmentions = load_phrases(unmention_dir) if unmention_dir.is_dir() else {}
        unmentions.update(positional_unmentions(mentions))
        unknown = set(mentions) - set(CHEXPERT_LABELS)
        if unknown:
            raise ValueError(f"phrase files for unknown observations: {sorted(unknown)}")
        self.mention_phrases = {obs: [Phrase(p) for p in ps] for obs, ps in mentions.items()}
        self.unmention_phrases = {obs: [Phrase(p) for p in ps] for obs, ps in unmentions.items()}
        # (substring that must occur, observation, phrase); "" (always true) for phrases with regex syntax
        self._all_mentions = [("" if p.regex is not None else p.text, obs, p)
                              for obs, ps in self.mention_phrases.items() for p in ps]
        triggers = lex.build_triggers()
        self._by_first: dict[str, list[lex.Trigger]] = {}
        for trig in sorted(triggers, key=lambda t: -len(t.words)):
            self._by_first.setdefault(trig.words[0], []).append(trig)

    # ---- public API ---------------------------------------------------------------------------------------------
    def label(self, report: str | None) -> np.ndarray:
        """(14,) float64 vector in CHEXPERT_LABELS order; NaN = blank. None/NaN reports count as empty text."""
        return self._aggregate(self.mentions(report))

    def label_many(self, reports: Iterable[str | None]) -> np.ndarray:
        rows = [self.label(r) for r in reports]
        return np.stack(rows) if rows else np.zeros((0, len(CHEXPERT_LABELS)))

    def mentions(self, report: str | None) -> list[Mention]:
        """Every mention with its value and the deciding trigger (for debugging labels)."""
        text = clean(_as_text(report))
        candidates: dict[str, list[Phrase]] = {}
        for key, obs, phrase in self._all_mentions:  # a plain substring test first: most phrases never occur
            if key in text:
                candidates.setdefault(obs, []).append(phrase)
        found: list[Mention] = []
        if not candidates:
            return found
        for index, sentence in enumerate(split_sentences(text)):
            spans = self._sentence_mentions(sentence, candidates)
            if spans:
                found.extend(self._classify(index, sentence, spans))
        return found

    # ---- stage 2: mentions --------------------------------------------------------------------------------------
    def _sentence_mentions(self, sentence: str, candidates: dict[str, list[Phrase]]):
        spans = []
        for obs, phrases in candidates.items():
            blocked = None
            for phrase in phrases:
                for start, end in phrase.spans(sentence):
                    if blocked is None:
                        blocked = sorted(s for p in self.unmention_phrases.get(obs, ())
                                         if p.regex is not None or p.text in sentence for s in p.spans(sentence))
                        longest = max((b - a for a, b in blocked), default=0)
                    if not _overlaps(blocked, longest, start, end):
                        spans.append((obs, start, end))
        return spans

    # ---- stage 3: negation and uncertainty ----------------------------------------------------------------------
    def _classify(self, index: int, sentence: str, spans) -> list[Mention]:
        tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(sentence)]
        words = [sentence[a:b] for a, b in tokens]
        ends = [b for _, b in tokens]
        triggers = self._find_triggers(words)
        trigger_tokens = {i for s, e, _ in triggers for i in range(s, e)}
        bounds = ([s for s, _, _ in triggers], [e for _, e, _ in triggers])  # both increasing: matches do not overlap
        out = []
        for obs, start, end in spans:
            first = bisect_left(ends, start + 1)  # first token ending after the mention starts
            last = first
            while last < len(tokens) and tokens[last][0] < end:
                last += 1
            text = sentence[start:end]
            value, reason = self._decide(words, triggers, bounds, trigger_tokens, first, last, text)
            out.append(Mention(obs, index, start, end, text, value, reason))
        return out

    def _find_triggers(self, words: list[str]) -> list[tuple[int, int, lex.Trigger]]:
        """Greedy longest-first, non-overlapping trigger matches as (first token, end token, trigger)."""
        found, i, n = [], 0, len(words)
        while i < n:
            for trig in self._by_first.get(words[i], ()):
                k = len(trig.words)
                if tuple(words[i:i + k]) == trig.words:
                    found.append((i, i + k, trig))
                    i += k
                    break
            else:
                i += 1
        return found

    def _decide(self, words, triggers, bounds, trigger_tokens, first, last, text) -> tuple[float, str]:
        mention_words = words[first:last]
        cardiac = any(w in lex.CARDIAC_WORDS for w in mention_words)
        silhouette = "silhouette" in mention_words
        hits = self._forward_hits(words, triggers, bounds[1], first) + \
            self._backward_hits(words, triggers, bounds[0], last)
        families = []
        for trig in hits:
            family = trig.family
            if family == "cardiac":
                family = "unc" if cardiac else None
            elif family == "obscure":
                family = "neg" if silhouette else "unc"
            if family:
                families.append((family, " ".join(trig.words)))
        if text in lex.INHERENTLY_UNCERTAIN:
            families.append(("unc", text))
        if self._in_alternative(words, trigger_tokens, first, last):
            families.append(("unc", "or"))
        for wanted, value in (("pre", UNCERTAIN), ("neg", NEGATIVE), ("unc", UNCERTAIN)):
            for family, reason in families:
                if family == wanted:
                    return value, reason
        return POSITIVE, ""

    @staticmethod
    def _stacked(words, gap_start, gap_end) -> bool:
        """Two triggers act together when only coordination separates them ("normal and stable", "no new or",
        "stable and grossly normal")."""
        return all(w in (",", "and", "or") or w in lex.ADVERBS for w in words[gap_start:gap_end])

    def _forward_hits(self, words, triggers, trigger_ends, first) -> list[lex.Trigger]:
        hits, boundary = [], first
        for k in range(bisect_right(trigger_ends, first) - 1, -1, -1):  # nearest first
            start, end, trig = triggers[k]
            if first - end > _FORWARD_WINDOW:
                break  # out of every scope: keeps long unpunctuated reports linear
            if hits and not self._stacked(words, end, boundary):
                break
            if not trig.forward or not self._forward_reaches(words, trig, start, end, first):
                if hits:
                    break
                continue
            hits.append(trig)
            boundary = start
        return hits

    def _forward_reaches(self, words, trig, start, end, first) -> bool:
        gap = words[end:first]
        if trig.scope == "clause":
            return len(gap) <= _FORWARD_WINDOW and not any(w in lex.CLAUSE_BREAKS for w in gap)
        if len(gap) > _PHRASE_WINDOW or any(w in lex.CLAUSE_BREAKS or w in lex.PHRASE_BREAKS or w in lex.COPULAS
                                            for w in gap):
            return False
        if trig.scope == "comma" and "," in gap:
            return False
        if trig.adjective:
            # "heart size is normal, atelectasis" : a predicative adjective does not modify what follows
            k = start - 1
            while k >= 0 and words[k] in lex.PREDICATE_FILLERS:
                k -= 1
            return k < 0 or words[k] not in lex.COPULAS
        return True

    def _backward_hits(self, words, triggers, trigger_starts, last) -> list[lex.Trigger]:
        hits, boundary = [], last
        for k in range(bisect_left(trigger_starts, last), len(triggers)):
            start, end, trig = triggers[k]
            if hits:
                if not self._stacked(words, boundary, start):
                    break
            elif not self._backward_reaches(words, last, start):
                break
            if not trig.backward:
                break
            if trig.adjective and not self._predicative(words, last, start, end):
                break
            hits.append(trig)
            boundary = end
        return hits

    @staticmethod
    def _backward_reaches(words, last, start) -> bool:
        """The words between a mention and a following trigger must read as "[more subjects] [copula] [fillers]"."""
        if start - last > _BACKWARD_WINDOW:
            return False
        gap = words[last:start]
        after_copula = False
        for w in gap:
            if w in lex.COPULAS:
                after_copula = True
            elif after_copula:
                if w not in lex.PREDICATE_FILLERS:
                    return False
            elif (w in lex.CLAUSE_BREAKS or w in lex.PHRASE_BREAKS or w in lex.ALTERNATIVES
                  or (w.endswith(("ed", "ing")) and w not in lex.PARTICIPLE_ADJECTIVES)):
                return False
        return True

    @staticmethod
    def _predicative(words, last, start, end) -> bool:
        if any(w in lex.COPULAS for w in words[last:start]):
            return True
        return end >= len(words) or words[end] in lex.ADJECTIVE_FOLLOWERS

    @staticmethod
    def _in_alternative(words, trigger_tokens, first, last) -> bool:
        """Is the mention one side of an "X or Y" / "X versus Y" coordination (post-negation uncertainty)?"""

        def scan(indices) -> bool:
            for k, i in enumerate(indices):
                w = words[i]
                if k >= 8 or i in trigger_tokens or w in lex.CLAUSE_BREAKS or w in lex.PHRASE_BREAKS \
                        or w in lex.COPULAS:
                    return False
                if w in lex.ALTERNATIVES:
                    return True
            return False

        return scan(range(last, len(words))) or scan(range(first - 1, -1, -1))

    # ---- stage 4: aggregation -----------------------------------------------------------------------------------
    @staticmethod
    def _aggregate(mentions: Sequence[Mention]) -> np.ndarray:
        per_column: dict[int, list[float]] = {}
        no_finding = True
        for m in mentions:
            if m.observation != SUPPORT_DEVICES and m.value != NEGATIVE:
                no_finding = False
            if m.observation == NO_FINDING:
                continue  # "other finding" phrases only block No Finding
            if m.value != NEGATIVE and m.text in ("chf", "heart failure"):
                per_column.setdefault(_COLUMN[CARDIOMEGALY], []).append(UNCERTAIN)
            per_column.setdefault(_COLUMN[m.observation], []).append(m.value)
        if no_finding:
            per_column[_COLUMN[NO_FINDING]] = [POSITIVE]
        row = np.full(len(CHEXPERT_LABELS), np.nan)
        for column, values in per_column.items():
            row[column] = _resolve(values)
        return row


def _overlaps(spans: list[tuple[int, int]], longest: int, start: int, end: int) -> bool:
    """Does [start, end) overlap one of the sorted `spans` (none longer than `longest`)? Bisection keeps a long
    sentence with many unmention matches linear."""
    for u_start, u_end in spans[bisect_left(spans, (start - longest, -1)):]:
        if u_start >= end:
            return False
        if u_end > start:
            return True
    return False


def _resolve(values: list[float]) -> float:
    """chexpert-labeler's precedence; note {neg, unc, pos} gives uncertain because that case is tested first."""
    kinds = set(values)
    if len(values) == 1 or len(kinds) == 1:
        return values[0]
    if NEGATIVE in kinds and UNCERTAIN in kinds:
        return UNCERTAIN
    return POSITIVE  # {neg, pos} and {unc, pos}


def _as_text(report) -> str:
    if report is None or (isinstance(report, float) and report != report):
        return ""
    if not isinstance(report, str):
        raise TypeError(f"reports must be strings, got {type(report).__name__}")
    return report


def check_labeler_settings(settings: dict, metric: str) -> None:
    """A metric's recorded labeler settings must name this labeler: results of another version are not comparable."""
    for key, built_in in LABELER_SETTINGS.items():
        if settings.get(key, built_in) != built_in:
            raise ValueError(f"{metric} setting {key}={settings[key]!r} is not available; the built-in labeler is "
                             f"{key}={built_in!r} (results from another labeler version must be recomputed)")


@lru_cache(maxsize=1)
def default_labeler() -> CheXpertLabeler:
    """The labeler on the bundled rule files, built once per process."""
    return CheXpertLabeler()


def label_reports(reports: Iterable[str | None]) -> np.ndarray:
    """Label reports: float64 array (N, 14) in CHEXPERT_LABELS order, 1/0/-1, NaN = blank. Stable API."""
    return default_labeler().label_many(reports)


def label_dataframe(reports: Sequence[str | None]):
    """chexpert-labeler's output table: `Reports` (the input text) plus the 14 observation columns."""
    import pandas as pd

    reports = list(reports)
    frame = pd.DataFrame(label_reports(reports), columns=list(CHEXPERT_LABELS))
    frame.insert(0, "Reports", [_as_text(r) if r is None or isinstance(r, float) else r for r in reports])
    return frame
