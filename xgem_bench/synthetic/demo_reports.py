"""Choosing real IU X-ray impressions whose findings agree with a phantom's label vector (for the demo dataset).

A report is usable when two independent readings of it agree:
1. its impression text, read with small negation- and hedge-aware rules (`read_impression`): which of the DRAWN
   observations it states as present; and
2. the MeSH "major" tags the IU curators attached to the whole report (`MESH_FAMILIES`).

Rules, per impression sentence: a mention preceded in its sentence by a negation cue ("no", "without", "free of",
"resolved", ...) or followed by one ("is not seen", "has resolved", ...) is negative; a sentence that contains a
non-negated mention and a hedge ("may", "possible", "versus", "or", "?", ...) makes the report unusable (uncertain
labels have no phantom); a non-negated mention of a finding we do not draw (atelectasis is drawn; nodules, fractures,
granulomas, scarring, emphysema, hernias, widened mediastinum, ...) makes it unusable too. Then every observation the
text calls present must be confirmed by a MeSH tag of its family, and every MeSH family present must be stated in the
text (except Support Devices, which the IU curators tag from the findings section: a device that the impression does
not mention is simply not drawn, and its label is 0). An impression that states nothing is used (as "No Finding")
only if the report's only MeSH tag is `normal`.

A sentence that calls the heart or mediastinum borderline, "upper limits of normal" or only "stable" is unusable too
(neither normal nor enlarged), and "a/b" reads as "a or b" (a hedge), as the CheXpert labeler cleans it.

Checked against xgem-bench's CheXpert labeler (xgem_bench.labelers) on all ~1,560 usable impressions: identical
positives for every observation except two labeler quirks ("posterior to the heart" -> Cardiomegaly, "platelike"
-> Support Devices) and Lung Opacity, where the demo applies the ontology below (tests/data/test_data_demo.py).

Labels follow the text, with the CheXpert ontology's parent: Consolidation or Pneumonia imply Lung Opacity. "No
Finding" is 1 exactly when no observation other than Support Devices is present. Every other CheXpert column is 0:
the phantom does not show it and the impression does not state it.
"""
from __future__ import annotations

import re

from xgem_bench.data.iuxray import IUReport
from xgem_bench.data.study import CHEXPERT_LABELS

#: Observations the phantom draws (Pneumonia is label-only: it is drawn as the opacity that states it).
DRAWN = ("Cardiomegaly", "Pleural Effusion", "Lung Opacity", "Consolidation", "Atelectasis", "Edema",
         "Pneumothorax", "Support Devices")
POSITIVE_PATTERNS = {
    "Cardiomegaly": r"cardiomegaly|cardiac enlargement|enlarge\w* (?:the )?(?:heart|cardiac)\b|(?:heart|cardiac "
                    r"silhouette|cardiac shadow|cardiac size|heart size)(?: is| are| remains| appears)?(?: again)?"
                    r"(?: mildly| moderately| markedly| severely)? (?:enlarged|large|increased)",
    "Pleural Effusion": r"effusion|pleural fluid",
    "Lung Opacity": r"opaci|air ?-?space (?:disease|opaci)|infiltrat",
    "Consolidation": r"consolidat",
    "Pneumonia": r"pneumonia|infectio|infectious",
    "Atelectasis": r"atelecta",
    "Edema": r"edema",
    "Pneumothorax": r"pneumothora",
    "Support Devices": r"pacemaker|pacer|catheter|\bpicc\b|\bpic\b|\btubes?\b|\blines?\b|\bport\b|\bdevice",
}
#: Findings we do not draw: a non-negated mention rules the report out.
UNDRAWN_PATTERN = (
    r"nodul|\bmass|granulom|fractur|emphysema|scoliosis|hernia|\bscar|thickening|calcifi|degenera|hyperinfla|"
    r"hyperexpan|hypoinfla|hypoventil|\bcopd\b|interstitial (?:marking|pattern|lung|prominen|disease|opaci)|"
    r"fibros|eventration|elevat|"
    r"tortuous|atheroscl|lesion|densit|\bchf\b|heart failure|enlarge\w* (?:cardio)?mediastin|mediastin\w* "
    r"(?:is |are )?(?:widen|enlarge)|widen|kyphos|osteop|bronchi|aspiration|sternotomy|\bwires?\b|\bclips?\b|"
    r"surgical|postop|post-op|status post|s/p|deformit|blunt|adenopathy|lymph|\bcabg\b|cancer|metasta|tumor|"
    r"neoplas|\bcyst|bulla|cavit|hematoma|contusion|spondyl|arthr|obstructive|lucenc|\bvalves?\b|\bstents?\b|"
    r"collapse|hyperlucen|volume loss|low lung volume|pericardial|aneurysm|dilat|malignan|hilar|emboli|"
    r"\bmetal|foreign body|dislocat|subluxat|\bmastectomy|resect|lobectomy|pneumonectomy|thoracotomy|pleural plaque|"
    r"asbestos|chronic|lung disease|fissur|\bfat\b|free air|pneumoperitoneum|pneumomediastinum|congestion|injur|"
    r"scapula|senescent|tracheostomy|defib"
)
#: Heart or mediastinum described as borderline or only as "stable": neither clearly normal nor clearly enlarged.
AMBIGUOUS = (r"upper limits?|top (?:of )?normal|near top|borderline|"
             r"(?:stable|unchanged)\W+(?:heart|cardiac|mediastin)|(?:heart|cardiac|mediastin\w*) (?:size|silhouette|"
             r"contours?)\W+(?:\w+ ){0,2}(?:stable|unchanged|similar)")
NEGATION_BEFORE = (r"\b(?:no|not|without|negative for|free of|clear of|resolved|resolution of|removed|removal of|"
                   r"absence of|absent|rather than|none|nor|rule out|ruled out|neither|interval removal)\b")
NEGATION_AFTER = r"\b(?:not (?:seen|identified|present|visualized|evident|demonstrated)|has resolved|have resolved|" \
                 r"resolved|is absent|are absent|removed|has been removed|have been removed)\b"
HEDGE = (r"\b(?:may|might|possibl[ey]|probabl[ey]|likely|question(?:able)?|suspect\w*|suspicious|suggest\w*|"
         r"concern\w*|cannot|can not|could|versus|vs|borderline|upper limits?|equivocal|differential|consider\w*|"
         r"indeterminate|excluded|presum\w*|or|either|vague|subtle|atypical|difficult|limited|correlat\w*)\b|\?")

#: MeSH major head terms -> observation family (all IU tags are "Head/qualifier/...").
MESH_FAMILIES = {
    "Cardiomegaly": {"Cardiomegaly"},
    "Pleural Effusion": {"Pleural Effusion"},
    "Lung Opacity": {"Opacity", "Airspace Disease", "Infiltrate", "Consolidation", "Pneumonia"},
    "Atelectasis": {"Pulmonary Atelectasis"},
    "Edema": {"Pulmonary Edema"},
    "Pneumothorax": {"Pneumothorax"},
    "Support Devices": {"Catheters, Indwelling", "Implanted Medical Device", "Tube, Inserted", "Medical Device"},
}
# which MeSH family confirms a text observation
_CONFIRMED_BY = {"Consolidation": "Lung Opacity", "Pneumonia": "Lung Opacity"}


class Unusable(ValueError):
    """The impression is uncertain, mentions something the phantom does not draw, or disagrees with its MeSH tags."""


def sentences(text: str) -> list[str]:
    text = re.sub(r"(?:^|\s)\d+\.\s", " . ", text.lower())
    text = re.sub(r"(?<=[a-z])/(?=[a-z])", " or ", text)  # "atelectasis/infiltrate" is a hedge, as CheXpert reads it
    return [s.strip() for s in re.split(r"[.;:]\s+|[.;:]$|\n", text) if s.strip()]


def _negated(sentence: str, start: int, end: int) -> bool:
    # a negation cue earlier in the same clause ("but" / "however" end its scope), or one right after the mention
    # ("effusion has resolved")
    before = re.split(r"\b(?:but|however|although|though|except)\b", sentence[:start])[-1]
    return bool(re.search(NEGATION_BEFORE, before) or re.match(r"\W*(?:\w+\W+){0,3}?" + NEGATION_AFTER,
                                                               sentence[end:]))


def read_impression(text: str) -> set[str]:
    """Observations the impression states as present; raises Unusable for hedged or undrawn findings."""
    present = set()
    for sentence in sentences(text):
        if re.search(AMBIGUOUS, sentence):
            raise Unusable(f"heart or mediastinum neither normal nor enlarged: {sentence!r}")
        hedged = re.search(HEDGE, sentence) is not None
        for name, pattern in [*POSITIVE_PATTERNS.items(), ("undrawn", UNDRAWN_PATTERN)]:
            for match in re.finditer(pattern, sentence):
                if _negated(sentence, match.start(), match.end()):
                    continue
                if hedged:
                    raise Unusable(f"hedged mention {match.group(0)!r} in {sentence!r}")
                if name == "undrawn":
                    raise Unusable(f"finding not drawn by the phantom: {match.group(0)!r} in {sentence!r}")
                present.add(name)
    return present


def mesh_observations(report: IUReport) -> set[str]:
    terms = report.mesh_terms
    found = {name for name, family in MESH_FAMILIES.items() if terms & family}
    if any(tag.lower().startswith("cardiac shadow/enlarged") for tag in report.mesh_major):
        found.add("Cardiomegaly")
    return found


def agreed_labels(report: IUReport) -> dict[str, float]:
    """The 14 CheXpert labels that both the impression text and the MeSH tags support; raises Unusable otherwise."""
    if not report.impression.strip():
        raise Unusable("empty impression")
    text = read_impression(report.impression)
    mesh = mesh_observations(report)
    if not text and not report.is_normal:
        raise Unusable(f"impression states no finding but the MeSH tags are {sorted(report.mesh_terms)}, not 'normal'")
    for name in text:
        if _CONFIRMED_BY.get(name, name) not in mesh:
            raise Unusable(f"impression states {name} but the MeSH tags {sorted(report.mesh_terms)} do not")
    for name in mesh - {"Support Devices"}:
        stated = {name} | {t for t, family in _CONFIRMED_BY.items() if family == name}
        if name == "Lung Opacity":
            stated.add("Atelectasis")  # IU tags an atelectatic opacity as Opacity + Pulmonary Atelectasis
        if not text & stated:
            raise Unusable(f"MeSH tags {name} but the impression does not state it")
    if text & {"Consolidation", "Pneumonia"}:
        text.add("Lung Opacity")
    labels = {name: (1.0 if name in text else 0.0) for name in CHEXPERT_LABELS}
    labels["No Finding"] = 0.0 if text - {"Support Devices"} else 1.0
    return labels


_SEVERITY_WORDS = ((r"\b(?:trace|tiny|minimal|small|mild|mildly|slight|slightly|minor)\b", 0.3),
                   (r"\b(?:moderate|moderately)\b", 0.6),
                   (r"\b(?:large|severe|severely|marked|markedly|extensive|massive|dense)\b", 0.9))


_ZONE_WORDS = (("upper", r"upper|apical|apex|apices"), ("mid", r"\bmid|middle|lingula|perihilar|hilar"),
               ("lower", r"lower|base|basilar|basal|retrocardiac"))


def _clause(sentence: str, position: int) -> str:
    """The part of the sentence around `position`, between commas / 'and' / 'with' (sites are read per clause)."""
    bounds = [0] + [m.end() for m in re.finditer(r",|\band\b|\bwith\b", sentence)] + [len(sentence)]
    start = max(b for b in bounds if b <= position)
    end = min(b for b in bounds if b > position)
    return sentence[start:end]


def finding_sites(text: str) -> dict[str, dict]:
    """Where the impression puts each stated finding: sides ('right'/'left', patient sides), zone and severity.

    Read from the clause that mentions the finding; a key is missing where the text does not say (the demo
    builder then draws it at random)."""
    sites: dict[str, dict] = {}
    for sentence in sentences(text):
        for name, pattern in POSITIVE_PATTERNS.items():
            match = re.search(pattern, sentence)
            if not match or _negated(sentence, match.start(), match.end()):
                continue
            site = sites.setdefault(name, {})
            clause = _clause(sentence, match.start())
            sides = set()
            if re.search(r"\b(?:bilateral\w*|bibasilar|bibasal|biapical|both)\b", clause):
                sides = {"right", "left"}
            else:
                sides |= {side for side in ("right", "left") if re.search(rf"\b{side}\b", clause)}
            if sides:
                site["sides"] = tuple(sorted(sides | set(site.get("sides", ())), reverse=True))
            zones = [zone for zone, cue in _ZONE_WORDS if re.search(cue, clause)]
            if zones and "zone" not in site:
                site["zone"] = zones[0]
            for cue, severity in _SEVERITY_WORDS:
                if re.search(cue, clause) and "severity" not in site:
                    site["severity"] = severity
            if name == "Support Devices":
                site["device"] = ("pacemaker" if re.search(r"pacemaker|pacer|\bicd\b|defibrillator", clause)
                                  else "tube" if re.search(r"\btubes?\b", clause) else "line")
    return sites
