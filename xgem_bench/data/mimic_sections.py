"""Report sections of MIMIC-CXR, as the official tools extract them.

Behaviour of MIT-LCP/mimic-cxr `txt/section_parser.py` + `txt/create_section_files.py` (MIT licence), re-implemented:

- a header is an upper-case run of letters, spaces and `()/,-` after a newline and one space, ending in `:` and
  a whitespace character (`\\n IMPRESSION: `); text before the first header is the "preamble"; after a header the
  search for the next one resumes only past the end of the header's first line;
- header names are normalised (lower case; a table of frequent names and misspellings, e.g. CONCLUSION ->
  impression, CHEST, TWO VIEWS -> findings; names containing a main section's name; names describing the study
  such as "PA AND LATERAL" -> findings);
- empty impression / findings sections are dropped; a report with neither gets a "last_paragraph" section: the
  text of its last section after the first blank line (`\\n \\n`);
- a few hand-checked reports follow the official custom rules (a named section, or fixed character offsets);
- the "conclusion" is the *last* section named impression, else findings, else last_paragraph, else comparison.

The paper uses the impression only: `report_text(text, study, "impression")` gives the last impression section
(or the hand-fixed conclusion of a custom-rule report) and nothing for reports without one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

#: What `--report-section` accepts: the paper's choice, the findings alone, or the official fallback chain.
REPORT_SECTIONS = ("impression", "findings", "conclusion")
#: The order in which the official create_section_files.py picks a report's conclusion.
CONCLUSION_ORDER = ("impression", "findings", "last_paragraph", "comparison")

_HEADER = re.compile(r"\n ([A-Z ()/,-]+):\s")
_PARAGRAPH_BREAK = "\n \n"  # MIMIC reports indent every line by one space, blank lines included

# Header names as written (lower case) -> normalised name; the official table of frequent names and misspellings.
_NAME_TABLE = {
    "preamble": "preamble", "impression": "impression", "comparison": "comparison", "indication": "indication",
    "findings": "findings", "examination": "examination", "technique": "technique", "history": "history",
    "comparisons": "comparison", "clinical history": "history", "reason for examination": "indication",
    "notification": "notification", "reason for exam": "indication", "clinical information": "history",
    "exam": "examination", "clinical indication": "indication", "conclusion": "impression",
    "chest, two views": "findings", "recommendation(s)": "recommendations", "type of examination": "examination",
    "reference exam": "comparison", "patient history": "history", "addendum": "addendum",
    "comparison exam": "comparison", "date": "date", "comment": "comment", "findings and impression": "impression",
    "wet read": "wet read", "comparison film": "comparison", "recommendations": "recommendations",
    "findings/impression": "impression", "pfi": "history", "recommendation": "recommendations",
    "wetread": "wet read", "ndication": "impression", "impresson": "impression", "imprression": "impression",
    "imoression": "impression", "impressoin": "impression", "imprssion": "impression", "impresion": "impression",
    "imperssion": "impression", "mpression": "impression", "impession": "impression",
    "findings/ impression": "impression", "finding": "findings", "findins": "findings", "findindgs": "findings",
    "findgings": "findings", "findngs": "findings", "findnings": "findings", "finidngs": "findings",
    "idication": "indication", "reference findings": "findings", "comparision": "comparison",
    "comparsion": "comparison", "comparrison": "comparison", "comparisions": "comparison",
}
# A header containing one of these is that section ("IMPRESSIONS", "FINAL IMPRESSION", "CLINICAL HISTORY/...").
_MAIN_SECTIONS = ("impression", "findings", "history", "comparison", "addendum")
# A header describing the study itself ("PA AND LATERAL VIEWS OF THE CHEST") introduces the findings.
_STUDY_DESCRIPTION = re.compile("chest|portable|pa and lateral|lateral and pa|ap and lateral|lateral and ap|"
                                "frontal and|two views|frontal view|pa view|ap view|one view|lateral view|"
                                "bone window|frontal upright|frontal semi-upright|ribs|pa and lat")

# Hand-checked reports of the official rules (study id without the "s"): the conclusion is the last section of this
# name, or the text between these character offsets ([0, 0]: the report has no findings at all).
CUSTOM_SECTION = {
    "50913680": "recommendations", "59363654": "examination", "59279892": "technique",
    "59768032": "recommendations", "57936451": "indication", "50058765": "indication", "53356173": "examination",
    "53202765": "technique", "50808053": "technique", "51966317": "indication", "50743547": "examination",
    "56451190": "note", "59067458": "recommendations", "59215320": "examination", "55124749": "indication",
    "54365831": "indication", "59087630": "recommendations", "58157373": "recommendations",
    "56482935": "recommendations", "58375018": "recommendations", "54654948": "indication",
    "55157853": "examination", "51491012": "history",
}
CUSTOM_OFFSETS = {
    "50525523": (201, 349), "57564132": (233, 554), "59982525": (313, 717), "53488209": (149, 475),
    "54875119": (234, 988), "50196495": (59, 399), "56579911": (59, 218), "52648681": (292, 631),
    "59889364": (172, 453), "53514462": (73, 377), "59505494": (59, 450), "53182247": (59, 412),
    "51410602": (47, 320), "56412866": (522, 822), "54986978": (59, 306), "59003148": (262, 505),
    "57150433": (61, 394), "56760320": (219, 457), "59562049": (158, 348), "52674888": (145, 296),
    "55258338": (192, 568), "59330497": (140, 655), "52119491": (179, 454),
    "58235663": (0, 0), "50798377": (0, 0), "54168089": (0, 0), "53071062": (0, 0), "56724958": (0, 0),
    "54231141": (0, 0), "53607029": (0, 0), "52035334": (0, 0),
}


@dataclass(frozen=True)
class Section:
    name: str  # normalised: impression, findings, comparison, ..., preamble, full report, last_paragraph
    text: str  # as in the report (not stripped)
    start: int  # character offset of the text in the report


def normalise_section_name(header: str) -> str:
    name = header.lower().strip()
    if name in _NAME_TABLE:
        return _NAME_TABLE[name]
    main = next((m for m in _MAIN_SECTIONS if m in name), None)
    if main:
        return main
    return "findings" if _STUDY_DESCRIPTION.search(name) else name


def split_sections(text: str) -> list[Section]:
    """The report's sections in order, named as the official parser names them."""
    header = _HEADER.search(text)
    if header is None:
        sections = [Section("full report", text, 0)]
    else:
        sections = [Section("preamble", text[:header.start(1)], 0)]
        while header:
            name, start = header.group(1), header.end()
            line_end = text.find("\n", start)  # the next header can only start after this header's first line
            header = _HEADER.search(text, line_end if line_end != -1 else start)
            end = header.start() if header else len(text)
            sections.append(Section(normalise_section_name(name), text[start:end], start))
    sections = [s for s in sections if not (s.name in ("impression", "findings") and not s.text.strip())]
    names = {s.name for s in sections}
    last = sections[-1]
    if "impression" not in names and "findings" not in names and _PARAGRAPH_BREAK in last.text:
        head, tail = last.text.split(_PARAGRAPH_BREAK, 1)
        sections[-1] = Section(last.name, head, last.start)
        sections.append(Section("last_paragraph", tail, last.start + len(head)))
    return sections


def last_section(sections: list[Section], name: str) -> Section | None:
    return next((s for s in reversed(sections) if s.name == name), None)


def _custom_rule(text: str, study_id: str, sections: list[Section]) -> str | None:
    if study_id in CUSTOM_OFFSETS:
        start, end = CUSTOM_OFFSETS[study_id]
        return text[start:end]
    if study_id in CUSTOM_SECTION:
        section = last_section(sections, CUSTOM_SECTION[study_id])
        return section.text if section else None
    return None


def report_text(text: str, study_id: str, section: str = "impression") -> tuple[str, str]:
    """(text, where it came from) for one report; `section` is one of REPORT_SECTIONS.

    "where" is the normalised section name, "custom" for a hand-checked report of the official rules, or "none"
    (empty text). Whitespace inside the text is collapsed to single spaces."""
    if section not in REPORT_SECTIONS:
        raise ValueError(f"report section must be one of {REPORT_SECTIONS}, not {section!r}")
    study_id = strip_id_prefix(study_id, "s")
    sections = split_sections(text)
    if section != "findings":  # the custom rules fix where a report's conclusion (its impression) is
        custom = _custom_rule(text, study_id, sections)
        if custom is not None:
            collapsed = " ".join(custom.split())
            return collapsed, "custom" if collapsed else "none"
    for name in (CONCLUSION_ORDER if section == "conclusion" else (section,)):
        found = last_section(sections, name)
        if found is not None:
            collapsed = " ".join(found.text.split())
            return collapsed, name if collapsed else "none"
    return "", "none"


def strip_id_prefix(identifier, prefix: str) -> str:
    """'s50414267' / '50414267' / 50414267 -> '50414267' (MIMIC's CSVs omit the folder prefixes, paths keep them)."""
    value = str(identifier).strip()
    if value.endswith(".0") and value[:-2].isdigit():  # an id column read as float somewhere upstream
        value = value[:-2]
    if value[:1].lower() == prefix and value[1:].isdigit():
        value = value[1:]
    return value
