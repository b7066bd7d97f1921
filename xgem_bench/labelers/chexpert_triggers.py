"""Negation and uncertainty triggers of the CheXpert labeler, as a parser-free lexicon.

The original (chexpert-labeler on NegBio) matches Semgrex-style patterns (chexpert_rules/patterns/*.txt) on a
dependency parse. There is no offline parser, so each pattern family becomes a lexical trigger with a direction and a
scope; `chexpert.py` resolves scope with clause and coordination rules. The comment above each group names the
pattern family it stands for. Families, checked in the original's order:

* ``pre``     pre-negation uncertainty (``pre_negation_uncertainty.txt``), wins over everything;
* ``neg``     negation (``negation.txt``);
* ``unc``     post-negation uncertainty (``post_negation_uncertainty.txt``);
* ``cardiac`` post-negation uncertainty that only applies to mentions containing a cardiac/mediastinal word
  ("stable cardiomediastinal silhouette");
* ``obscure`` "obscured silhouette" is a negation, any other obscured finding is uncertain.

Direction: ``fwd`` triggers precede the mention ("no effusion"), ``bwd`` triggers follow it ("effusion has resolved").
Scope of a forward trigger: ``np`` reaches over a noun-phrase list and stops at verbs and clause words; ``comma``
(a predicate's complement, "normal in size and contour") stops at a comma as well; ``clause`` (the modal verbs) reaches
to the end of the clause. ``adjective`` triggers can stand before a noun ("normal heart size");
used backwards they need a predicate position ("heart size is normal", "heart size normal.") so "cardiomegaly and normal
vascularity" does not negate cardiomegaly.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product


@dataclass(frozen=True)
class Trigger:
    words: tuple[str, ...]
    family: str
    forward: bool
    backward: bool
    scope: str = "np"
    adjective: bool = False


def _expand(template: str) -> list[str]:
    """'cannot {be }exclude{d}' style: each {a|b|} group is a list of alternatives (empty allowed)."""
    parts, alternatives = [], []
    rest = template
    while "{" in rest:
        head, rest = rest.split("{", 1)
        group, rest = rest.split("}", 1)
        parts.append(head)
        alternatives.append(group.split("|"))
        parts.append(None)
    parts.append(rest)
    out = []
    for choice in product(*alternatives):
        it = iter(choice)
        text = "".join(p if p is not None else next(it) for p in parts)
        out.append(" ".join(text.split()))
    return out


_SPEC: list[tuple[str, str, str, str, bool]] = [
    # (phrases separated by ';', family, direction fwd/bwd/both, scope, adjective)
    # --- pre-negation uncertainty: "cannot exclude XXX", "XXX is not excluded", "no new XXX", "cannot rule out XXX",
    #     "no evidence to rule out XXX"
    #     ("exclude" is the lemma: any inability or difficulty to exclude, with any degree adverb)
    ("{cannot|can not|can't|could not|couldn't|difficult to|hard to|unable to} "
     "{|entirely |completely |definitely |definitively |totally |fully |confidently }{exclude|rule out};"
     "no evidence to rule out;no new", "pre", "fwd", "np", False),
    ("{cannot|can not|could not|not} {|be }{|entirely |completely |definitely |totally |fully }{excluded|ruled out}",
     "pre", "bwd", "np", False),
    # --- negation: general "no XXX", "without XXX", "not XXX", "XXX rather than", "negative for", "free of",
    #     "history|disappearance|resolution|drainage|removal|clearing of XXX", "rule out XXX", "exclude XXX",
    #     "no evidence of", "no focal", "no area|focus of", "no NN to suggest XXX"
    ("no;without;not;negative for;free of;rather than;{history|disappearance|resolution|drainage|removal|clearing"
     "|absence} of;clear of;{|to }rule out;{|to }exclude;excluding", "neg", "fwd", "np", False),
    # "XXX is normal|unremarkable", "normal XXX", "normal appearance of XXX", "XXX within normal limits",
    # "XXX at the upper limits of normal"
    ("normal;unremarkable;absent", "neg", "both", "np", True),
    ("{upper|top|high} normal", "neg", "both", "np", False),  # "heart size upper normal", "top normal heart size"
    ("within {|the }{|normal }limits;within normal range;{within|at|near} {|the }limits of normal;"
     "{|upper |top |high }normal limits;"
     "{upper|top} {limit|limits|range} {|of }normal", "neg", "bwd", "np", False),
    # "heart is normal in size and contour", "heart and mediastinum of normal size": the predicate reaches the
    # coordinated nouns after it, up to a comma ("within normal limits for technique, retrocardiac opacity")
    ("{normal|unremarkable} {in|for};within {|the }normal limits {in|for};of normal", "neg", "both", "comma", False),
    # "XXX has resolved", "XXX removed", "XXX cleared", "XXX is no longer seen", "XXX is not enlarged",
    # "XXX is previously demonstrated", "XXX with interval resolution"
    ("removed;cleared;resolved", "neg", "both", "np", False),
    ("no longer;not {|significantly |particularly |substantially |markedly |grossly |definitely }enlarged;"
     "previously {demonstrated|visualized};with interval resolution;excluded;ruled out",
     "neg", "bwd", "np", False),
    # Not in the pattern files: "XXX is not seen|identified" negates in meaning, and the parse-based original does not
    # catch it; we choose the meaning (see docs/metrics/chexpert.md).
    ("not {seen|identified|demonstrated|visualized|present|evident|noted|detected}", "neg", "bwd", "np", False),
    # the same verbs negated in the active voice ("the lungs do not demonstrate infiltrate or effusion"): "not" is the
    # pattern set's general negation; the verb must not end its scope
    ("not {demonstrate|show|reveal|identify|suggest};not appear to {be|have}", "neg", "fwd", "np", False),
    # --- post-negation uncertainty. Modal verbs: "may|might|could|would be XXX", "may represent|reflect|indicate XXX",
    #     "possibly reflecting XXX", "maybe due to"
    ("may;might;could;would;possibly;presumably;maybe", "unc", "fwd", "clause", False),
    ("differential diagnosis {includes|include|including};differential {includes|include|including};"
     "{|differential }considerations {include|including};"
     "{|clinical }{correlate|correlation} {|clinically }for", "unc", "fwd", "clause", False),
    # "possible|probable|questionable|suspected XXX", "question|suggestion of", "suspicious|concern|worrisome for",
    # "consider|favor XXX", "secondary to XXX", "XXX versus YYY"
    ("possible;questionable;suspected;borderline;less likely", "unc", "both", "np", True),
    ("probable;question of;suggestion of;suspect;suspicious for;suspicious of;suspicion for;suspicion of;concern for;"
     "concerning for;worrisome for;consider;considering;favor;favoring;secondary to;possibility of;"
     "consideration of", "unc", "fwd", "np", False),
    # "XXX could|may|might be present", "XXX could appear", "XXX is poorly|incompletely evaluated",
    # "XXX is not well visualized", "XXX is not clearly seen", "XXX was not appreciated", "XXX may have this appearance"
    ("{may|might|could|can} {|also |possibly }be present;{may|might|could|can} appear;"
     "{may|might|could} {|also }have this appearance;"
     "{poorly|incompletely|not well|not fully} {evaluated|visualized|seen|assessed};"
     "not well-{evaluated|visualized|seen};"
     "not clearly {seen|visualized};not {appreciated|well appreciated};favored;"
     "{may|might|could} not be {seen|demonstrated|visualized|visible|evident|apparent};"
     # "nodule is a possibility", "pneumonia is a consideration"
     "possibility;consideration", "unc", "bwd", "np", False),
    # --- cardiac/mediastinal words: "stable|unchanged silhouette", "silhouette is stable|unchanged|not changed",
    #     "similar to prior", "stable appearance of", "no change in heart size"
    ("stable;unchanged", "cardiac", "both", "np", True),
    ("no {|significant |interval |significant interval }change{|s};without change", "cardiac", "fwd", "np", False),
    ("not changed;not significantly changed;similar;without change", "cardiac", "bwd", "np", False),
    # --- "obscuring the XXX", "XXX is obscured", "obscured XXX" (the active verb's subject is not obscured)
    ("obscured", "obscure", "both", "np", False),
    ("obscuring;obscures;obscure", "obscure", "fwd", "np", False),
]


def build_triggers() -> list[Trigger]:
    merged: dict[tuple[str, ...], Trigger] = {}
    for phrases, family, direction, scope, adjective in _SPEC:
        for template in phrases.split(";"):
            for phrase in _expand(template):
                words = tuple(phrase.split())
                fwd, bwd = direction in ("fwd", "both"), direction in ("bwd", "both")
                old = merged.get(words)
                if old is not None:
                    # the same words may start a forward and a backward trigger ("without change")
                    if old.family != family:
                        raise ValueError(f"trigger {phrase!r} is listed in two families")
                    fwd, bwd = fwd or old.forward, bwd or old.backward
                merged[words] = Trigger(words, family, fwd, bwd, scope, adjective)
    return list(merged.values())


COPULAS = frozenset("is are was were be been being am has have had appears appear appeared remains remain remained "
                    "seems seem seemed looks look looked become becomes became measures measure measured".split())
#: adverbs that may sit between a copula and its predicate ("is now normal") or between two stacked triggers
#: ("stable and grossly normal")
ADVERBS = frozenset("now again still otherwise also currently essentially overall grossly stably entirely completely "
                    "largely nearly almost partially partly".split())
#: words that may sit between a copula and its predicate ("is at the upper limits of normal", "is a possibility")
PREDICATE_FILLERS = ADVERBS | frozenset("at on near toward towards the a an top high upper low within".split())
#: participles used as adjectives inside a subject list ("osseous structures and visualized upper abdomen are normal")
PARTICIPLE_ADJECTIVES = frozenset("visualized imaged included".split())
#: words that end a clause for every trigger
CLAUSE_BREAKS = frozenset(". ; : ? ! but however although though whereas while there".split())
#: words that end the noun-phrase scope of "no", "normal", ... (besides the clause breaks and the copulas)
PHRASE_BREAKS = frozenset("which that who whose where when since because as given with by change changes changed "
                          "seen noted present shows show showed demonstrates demonstrate demonstrated reveals "
                          "reveal revealed persists persist measuring likely".split())
#: after an adjective trigger used backwards, what may follow it ("heart size normal and lungs clear"), including the
#: predicate adjective it modifies as an adverb ("heart size borderline enlarged")
ADJECTIVE_FOLLOWERS = frozenset(", . ; : and or in with without for at on since from compared to bilaterally but "
                                "again overall otherwise enlarged large prominent widened elevated increased".split())
#: words whose presence in a mention makes the `cardiac` family apply (the lemmas named in the original patterns)
CARDIAC_WORDS = frozenset("cardiomediastinal pericardial mediastinal mediastinum cardiomediastinum contour contours "
                          "configuration silhouette silhouettes size heart shadow".split())
#: coordinators that make a mention uncertain ("XXX or YYY", "XXX versus YYY")
ALTERNATIVES = frozenset("or versus vs".split())
#: Edema phrases that are uncertain by themselves ("vascular congestion", "indistinctness", ...)
INHERENTLY_UNCERTAIN = frozenset(["vascular congestion", "pulmonary congestion", "indistinctness",
                                  "vascular prominence"])
