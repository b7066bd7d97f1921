"""Text normalisation: each named setting against NLTK's data-free tokenizers and hand-written expectations."""
import pytest
from nltk.tokenize import TreebankWordTokenizer, wordpunct_tokenize

from xgem_bench.text import TextNormalization

REPORTS = [
    "No acute cardiopulmonary process.",
    "Small left pleural effusion, unchanged since 01/02/2020; ET tube 2.5 cm above the carina.",
    "  Heart size is normal.\nLungs are clear.\tNo pneumothorax (or effusion)!  ",
    "Status post CABG. Mild pulmonary edema vs. atelectasis - can't exclude pneumonia.",
]


@pytest.mark.parametrize("text", REPORTS)
def test_whitespace_split_is_nltk_wordpunct(text):
    norm = TextNormalization(lowercase=False, punctuation="split", tokenizer="whitespace")
    assert norm.tokens(text) == wordpunct_tokenize(text)


@pytest.mark.parametrize("text", REPORTS)
def test_treebank_keep_is_nltk_treebank(text):
    norm = TextNormalization(lowercase=True, punctuation="keep", tokenizer="treebank")
    assert norm.tokens(text) == TreebankWordTokenizer().tokenize(text.lower())


def test_each_setting_by_hand():
    text = "Small L pleural effusion, unchanged."
    assert TextNormalization().tokens(text) == ["small", "l", "pleural", "effusion", ",", "unchanged", "."]
    assert TextNormalization(punctuation="strip").tokens(text) == ["small", "l", "pleural", "effusion", "unchanged"]
    assert TextNormalization(lowercase=False, punctuation="keep").tokens(text) == \
        ["Small", "L", "pleural", "effusion,", "unchanged."]
    assert TextNormalization(punctuation="strip").tokens("2.5 cm -- ok") == ["2", "5", "cm", "ok"]


def test_unicode_is_nfkc_normalised_and_all_whitespace_separates():
    # full-width letters and a ligature compare equal to their ASCII forms; NBSP and em space separate tokens
    assert TextNormalization().tokens("ＥＦＦＵＳＩＯＮ\u00a0eﬀusion\u2003x") == ["effusion", "effusion", "x"]


def test_empty_and_none_give_no_tokens():
    for text in (None, "", "   \n\t"):
        assert TextNormalization().tokens(text) == []
        assert TextNormalization().normalize(text) == ""


def test_normalize_joins_tokens():
    assert TextNormalization(lowercase=False, punctuation="keep").normalize(" a\n b  c ") == "a b c"


def test_settings_round_trip_and_validation():
    norm = TextNormalization(lowercase=False, punctuation="strip", tokenizer="treebank")
    assert TextNormalization.from_settings({**norm.settings(), "other": 1}) == norm
    with pytest.raises(ValueError, match="tokenizer"):
        TextNormalization(tokenizer="punkt")
    with pytest.raises(ValueError, match="punctuation"):
        TextNormalization(punctuation="drop")
    with pytest.raises(ValueError, match="lowercase"):
        TextNormalization(lowercase="yes")
