"""MIMIC-CXR report texts written in the official style (every line indented by one space, blank lines holding one
space, "FINAL REPORT" title, upper-case headers), one per section case the official parser distinguishes.

EXPECTED gives, per study id, what MIT-LCP/mimic-cxr `create_section_files.py` extracts, worked out by hand from its
rules (see xgem_bench/data/mimic_sections.py): the conclusion text and the section it comes from, plus the last
impression and findings sections. `benchmarks/mimic_sections_agreement.py` runs the upstream script itself on
these texts."""
from __future__ import annotations

TITLE = "                                 FINAL REPORT\n"

REPORTS = {
    # impression and findings: the impression wins
    "50000001": TITLE + """ EXAMINATION:  CHEST (PA AND LAT)
 \n INDICATION:  ___ year old woman with cough  // ? pneumonia
 \n TECHNIQUE:  Chest PA and lateral
 \n COMPARISON:  ___
 \n FINDINGS: 
 \n The heart is mildly enlarged.  There is no pleural effusion or pneumothorax.
 \n IMPRESSION: 
 \n Mild cardiomegaly.  No acute cardiopulmonary process.
""",
    # an addendum on top with its own impression: the last impression (the final report's) wins
    "50000002": """                                 ADDENDUM
 \n ADDENDUM: Findings were discussed with Dr. ___ at 10:05 on ___.
 \n IMPRESSION: Findings communicated.
 \n ______________________________________________________________________________
""" + TITLE + """ INDICATION:  Shortness of breath.
 \n FINDINGS:  Small bilateral pleural effusions.  Mild pulmonary edema.
 \n IMPRESSION:  Mild pulmonary edema and small effusions.
""",
    # CONCLUSION is an impression
    "50000003": TITLE + """ HISTORY:  Fever.
 \n FINDINGS:  Lungs are clear.
 \n CONCLUSION:  No pneumonia.
""",
    # FINDINGS AND IMPRESSION is an impression
    "50000004": TITLE + """ INDICATION:  Line placement.
 \n FINDINGS AND IMPRESSION:  Right internal jugular line ends in the mid SVC.  No pneumothorax.
""",
    # IMPRESSIONS contains "impression"
    "50000005": TITLE + """ COMPARISON:  None.
 \n IMPRESSIONS:  Left lower lobe atelectasis.
""",
    # a misspelt impression header
    "50000006": TITLE + """ INDICATION:  Chest pain.
 \n FINDINGS:  Normal heart size.
 \n IMPRESSOIN:  Normal chest radiograph.
""",
    # a header with a comma describes the study: findings
    "50000007": TITLE + """ INDICATION:  Trauma.
 \n CHEST, TWO VIEWS:  No displaced rib fracture.  No pneumothorax.
""",
    # a study-describing header without comma ("PA AND LATERAL VIEWS OF THE CHEST") is findings too
    "50000008": TITLE + """ HISTORY:  Cough.
 \n PA AND LATERAL VIEWS OF THE CHEST:  Hyperinflated lungs.  No focal consolidation.
""",
    # no impression or findings: the last paragraph (everything after the first blank line of the last section)
    "50000009": TITLE + """ EXAMINATION:  Portable chest.
 \n INDICATION:  Intubated patient.
 \n Portable AP chest radiograph.
 \n Endotracheal tube 4 cm above the carina.  Stable bibasilar opacities.
""",
    # no impression or findings, a single comparison paragraph without blank line: the comparison
    "50000010": TITLE + """ INDICATION:  Follow-up.
 \n COMPARISON:  Compared to the prior study there is no significant change.
""",
    # an empty impression header followed by text that belongs to the findings
    "50000011": TITLE + """ FINDINGS:  Right upper lobe opacity.
 \n IMPRESSION: 
""",
    # the custom rules: this study's conclusion is its "recommendations" section
    "50913680": TITLE + """ INDICATION:  Nodule.
 \n IMPRESSION:  See below.
 \n RECOMMENDATION(S):  6 mm right upper lobe nodule; CT in 3 months is recommended.
""",
    # the custom rules: this study has no findings at all (offsets 0, 0)
    "58235663": TITLE + """ INDICATION:  Outside film for consultation.
 \n IMPRESSION:  Please see the report of the outside hospital.
""",
    # the custom rules: fixed character offsets 59..218 of the text
    "56579911": TITLE + """ EXAMINATION: CHEST RADIOGRAPH. The cardiac silhouette is normal in size. No focal """
    """consolidation, effusion or pneumothorax is seen.  Mediastinal contours are unremarkable.
 \n NOTIFICATION:  None.
""",
    # the line right after a bare header is never a header (the search resumes past the end of that line)
    "50000015": TITLE + """ INDICATION:  Cough.
 \n IMPRESSION:
 NO ACUTE PROCESS:  Lungs are clear.
""",
    # no header at all: the whole text, then the text after its first blank line
    "50000016": """ Portable chest radiograph.
 \n Heart size is normal.  No effusion.
 \n No acute change.
""",
    # several findings sections: the last non-empty one
    "50000017": TITLE + """ FINDINGS:  Mild cardiomegaly.
 \n FINDINGS:  Unchanged position of the pacemaker leads.
 \n NOTIFICATION:  Discussed with the team.
""",
}

# study -> (conclusion text after whitespace collapse, its section); then the last impression, the last findings
EXPECTED = {
    "50000001": ("Mild cardiomegaly. No acute cardiopulmonary process.", "impression"),
    "50000002": ("Mild pulmonary edema and small effusions.", "impression"),
    "50000003": ("No pneumonia.", "impression"),
    "50000004": ("Right internal jugular line ends in the mid SVC. No pneumothorax.", "impression"),
    "50000005": ("Left lower lobe atelectasis.", "impression"),
    "50000006": ("Normal chest radiograph.", "impression"),
    "50000007": ("No displaced rib fracture. No pneumothorax.", "findings"),
    "50000008": ("Hyperinflated lungs. No focal consolidation.", "findings"),
    "50000009": ("Portable AP chest radiograph. Endotracheal tube 4 cm above the carina. Stable bibasilar "
                 "opacities.", "last_paragraph"),
    "50000010": ("Compared to the prior study there is no significant change.", "comparison"),
    "50000011": ("Right upper lobe opacity.", "findings"),
    "50913680": ("6 mm right upper lobe nodule; CT in 3 months is recommended.", "custom"),
    "58235663": ("", "none"),
    "56579911": ("CHEST RADIOGRAPH. The cardiac silhouette is normal in size. No focal consolidation, effusion or "
                 "pneumothorax is seen. Mediastinal contours are unremarkable.", "custom"),
    "50000015": ("NO ACUTE PROCESS: Lungs are clear.", "impression"),
    "50000016": ("Heart size is normal. No effusion. No acute change.", "last_paragraph"),
    "50000017": ("Unchanged position of the pacemaker leads.", "findings"),
}
