"""Text normalisation shared by every text metric: one place that turns a report into tokens, with named settings.

Three settings change the tokens, and therefore the numbers; every text metric stores them in its settings so they are
written into every result and signature:

- ``lowercase`` (bool): lower-case the text first.
- ``tokenizer``: ``whitespace`` (``str.split``), ``treebank`` (NLTK's Penn-Treebank rules, which need no NLTK data;
  the closest offline relative of the Java PTBTokenizer the COCO caption tools run) or ``cxr-report-metric``
  (CXR-Report-Metric's BLEU tokens, `run_eval.py::prep_reports`: a space before every ".", then split on the space
  character only, empty strings dropped; so newlines and tabs stay inside tokens; use with ``punctuation=keep``).
- ``punctuation``: ``keep`` (tokens as the tokenizer made them), ``split`` (every token is cut into runs of word
  characters and runs of punctuation, so "effusion." -> "effusion", "."; with the whitespace tokenizer this is exactly
  NLTK's ``wordpunct_tokenize``), ``strip`` (like ``split``, then punctuation-only tokens are dropped).

Always applied, whatever the settings: Unicode NFKC normalisation (so full-width or ligature characters compare
equal) and treating every Unicode whitespace as a separator. No NLTK data (punkt) is needed for any setting.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from functools import cached_property

TOKENIZERS = ("whitespace", "treebank", "cxr-report-metric")
PUNCTUATION = ("keep", "split", "strip")

_WORDPUNCT = re.compile(r"\w+|[^\w\s]+")
_WORD = re.compile(r"\w")


@dataclass(frozen=True)
class TextNormalization:
    lowercase: bool = True
    punctuation: str = "split"
    tokenizer: str = "whitespace"

    def __post_init__(self):
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(f"unknown tokenizer {self.tokenizer!r}; choose one of {', '.join(TOKENIZERS)}")
        if self.punctuation not in PUNCTUATION:
            raise ValueError(f"unknown punctuation handling {self.punctuation!r}; "
                             f"choose one of {', '.join(PUNCTUATION)}")
        if self.tokenizer == "cxr-report-metric" and self.punctuation != "keep":
            raise ValueError("the cxr-report-metric tokenizer keeps punctuation as it is: use punctuation=keep")
        if not isinstance(self.lowercase, bool):
            raise ValueError(f"lowercase must be true or false, got {self.lowercase!r}")

    @classmethod
    def from_settings(cls, settings: dict) -> "TextNormalization":
        """Build from a metric's settings dict (which holds these three keys among others)."""
        return cls(**{key: settings[key] for key in cls.setting_names()})

    @staticmethod
    def setting_names() -> tuple[str, ...]:
        return ("lowercase", "punctuation", "tokenizer")

    def settings(self) -> dict:
        return asdict(self)

    @cached_property
    def _treebank(self):
        from nltk.tokenize import TreebankWordTokenizer
        return TreebankWordTokenizer()

    def tokens(self, text: str | None) -> list[str]:
        """The tokens of one report; None and blank text give no tokens."""
        if not text:
            return []
        text = unicodedata.normalize("NFKC", text)
        if self.lowercase:
            text = text.lower()
        if self.tokenizer == "cxr-report-metric":
            return [word for word in text.replace(".", " .").split(" ") if word]
        if self.tokenizer == "whitespace" and self.punctuation != "keep":
            pieces = _WORDPUNCT.findall(text)  # no piece spans whitespace, so this equals splitting words first
        else:
            words = self._treebank.tokenize(text) if self.tokenizer == "treebank" else text.split()
            if self.punctuation == "keep":
                return words
            pieces = [piece for word in words for piece in _WORDPUNCT.findall(word)]
        if self.punctuation == "strip":
            pieces = [piece for piece in pieces if _WORD.search(piece)]
        return pieces

    def normalize(self, text: str | None) -> str:
        """The normalised text as one string (tokens joined by single spaces), for packages that tokenize again."""
        return " ".join(self.tokens(text))


DEFAULT = TextNormalization()
