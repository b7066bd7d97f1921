"""Stages 1 and 2 of the CheXpert labeler (`chexpert.py`): chexpert-labeler's report cleaning and sentence split,
and its phrase files (mention / unmention regular expressions per observation, plus the positional unmention lists
it generates for Cardiomegaly and Enlarged Cardiomediastinum). Stage 3 (negation / uncertainty scope) and stage 4
(aggregation) stay in `chexpert.py`."""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Iterable

CARDIOMEGALY, ENLARGED_CARDIOMEDIASTINUM = "Cardiomegaly", "Enlarged Cardiomediastinum"

_SLASH = re.compile(r"(?<=[a-zA-Z])/(?=[a-zA-Z])")
_EMPTY_SENTENCE = re.compile(r"\.\s+\.")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")
_REGEX_META = set(".^$*+?{}[]\\|()")


def clean(report: str) -> str:
    """chexpert-labeler's report cleaning (loader/load.py), step for step."""
    text = report.lower().replace("and/or", "or")
    text = _SLASH.sub(" or ", text)
    text = text.replace("..", ".").replace(".", ". ").replace(",", ", ")
    text = " ".join(text.split())
    return _EMPTY_SENTENCE.sub(".", text)


def split_sentences(text: str) -> list[str]:
    """Sentences of a cleaned report (after cleaning every full stop is followed by a space)."""
    return [s for s in _SENTENCE_END.split(text) if s]


class Phrase:
    """One line of a phrase file: a regex, searched literally with str.find when it has no regex syntax (all shipped
    phrases), which gives the same non-overlapping matches as re.finditer and is much faster."""

    __slots__ = ("text", "regex")

    def __init__(self, text: str):
        self.text = text
        self.regex = None if not (_REGEX_META & set(text)) else re.compile(text)

    def spans(self, sentence: str) -> Iterable[tuple[int, int]]:
        if self.regex is not None:
            for m in self.regex.finditer(sentence):
                yield m.span()
            return
        n, start = len(self.text), sentence.find(self.text)
        while start >= 0:
            yield start, start + n
            start = sentence.find(self.text, start + max(n, 1))


def shipped_rules_dir() -> Path:
    return Path(str(resources.files("xgem_bench.labelers") / "chexpert_rules"))


def _observation(stem: str) -> str:
    return stem.replace("_", " ").title()


def load_phrases(folder: Path) -> dict[str, list[str]]:
    phrases: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*.txt")):
        lines = [line.strip().replace("_", " ") for line in path.read_text(encoding="utf-8").splitlines()]
        phrases[_observation(path.stem)] = [line for line in lines if line]
    return phrases


def positional_unmentions(mentions: dict[str, list[str]]) -> dict[str, list[str]]:
    """chexpert-labeler's generated unmention lists for Cardiomegaly and Enlarged Cardiomediastinum."""
    prefixes = [a + b for a in ("over the", "overly the", "in the") for b in ("", " superior", " left", " right")]
    cardio = [p + " " + m.replace("the ", "") for p in prefixes for m in mentions.get(CARDIOMEGALY, [])
              if m not in ("cardiomegaly", "cardiac enlargement")]
    mediastinum = [p + " " + m for p in prefixes for m in mentions.get(ENLARGED_CARDIOMEDIASTINUM, [])]
    return {CARDIOMEGALY: cardio, ENLARGED_CARDIOMEDIASTINUM: mediastinum}
