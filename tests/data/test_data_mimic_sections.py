"""MIMIC-CXR section extraction against the official rules (MIT-LCP/mimic-cxr create_section_files.py), worked out
by hand per report in tests/data/mimic_reports.py; benchmarks/mimic_sections_agreement.py runs the upstream script
itself on the same texts."""
from __future__ import annotations

import pytest

from mimic_reports import EXPECTED, REPORTS
from xgem_bench.data.mimic_sections import normalise_section_name, report_text, split_sections, strip_id_prefix


@pytest.mark.parametrize("study", sorted(REPORTS))
def test_conclusion_as_the_official_script(study):
    assert report_text(REPORTS[study], study, "conclusion") == EXPECTED[study]


def test_impression_only_is_the_default_and_has_no_fallback():
    assert report_text(REPORTS["50000001"], "50000001") == ("Mild cardiomegaly. No acute cardiopulmonary process.",
                                                            "impression")
    # the final report's impression, not the addendum's, and no underscore line or "FINAL REPORT" in it
    assert report_text(REPORTS["50000002"], "50000002")[0] == "Mild pulmonary edema and small effusions."
    for study in ("50000007", "50000009", "50000010", "50000011", "50000016", "50000017"):
        assert report_text(REPORTS[study], study) == ("", "none"), study
    # hand-checked reports keep their official conclusion in impression mode; with or without the s prefix
    assert report_text(REPORTS["50913680"], "s50913680")[1] == "custom"
    assert report_text(REPORTS["58235663"], "58235663") == ("", "none")


def test_findings_section():
    assert report_text(REPORTS["50000001"], "50000001", "findings")[0] == (
        "The heart is mildly enlarged. There is no pleural effusion or pneumothorax.")
    assert report_text(REPORTS["50000017"], "50000017", "findings")[0] == "Unchanged position of the pacemaker leads."
    assert report_text(REPORTS["50000007"], "50000007", "findings")[1] == "findings"
    assert report_text(REPORTS["50000005"], "50000005", "findings") == ("", "none")
    # the custom rules are about the conclusion: findings mode ignores them
    assert report_text(REPORTS["50913680"], "50913680", "findings") == ("", "none")
    with pytest.raises(ValueError, match="report section must be one of"):
        report_text("", "1", "summary")


def test_section_names_normalised_as_upstream():
    assert [normalise_section_name(n) for n in (
        "IMPRESSION", "CONCLUSION", "FINDINGS AND IMPRESSION", "IMPRESSIONS", "IMPRESION", "FINAL IMPRESSION",
        "CHEST, TWO VIEWS", "PA AND LATERAL VIEWS OF THE CHEST", "REASON FOR EXAM", "COMPARISONS", "CLINICAL HISTORY",
        "WETREAD", "NDICATION", "PROVIDER")] == [
        "impression", "impression", "impression", "impression", "impression", "impression", "findings", "findings",
        "indication", "comparison", "history", "wet read", "impression", "provider"]


def test_split_sections_offsets_and_preamble():
    text = REPORTS["50000001"]
    sections = split_sections(text)
    assert [s.name for s in sections] == ["preamble", "examination", "indication", "technique", "comparison",
                                          "findings", "impression"]
    assert all(text[s.start:s.start + len(s.text)] == s.text for s in sections)
    assert sections[0].text.strip() == "FINAL REPORT"


def test_id_prefixes():
    assert strip_id_prefix("s50414267", "s") == strip_id_prefix(50414267, "s") == "50414267"
    assert strip_id_prefix("p10000032", "p") == strip_id_prefix("10000032.0", "p") == "10000032"
    assert strip_id_prefix("sX1", "s") == "sX1"  # not an id with a prefix: left as it is
