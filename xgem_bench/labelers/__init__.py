"""Report labelers: turn free-text radiology reports into CheXpert-style labels (1 positive, 0 negative, -1 uncertain,
NaN blank = not mentioned).

Stable API (used by the report metrics, the coherence metric and the demo dataset builder):

    from xgem_bench.labelers import label_reports, label_dataframe
    label_reports(["No effusion.", "Mild cardiomegaly."])   # numpy (N, 14) float64, columns = CHEXPERT_LABELS
    label_dataframe(reports)                                 # pandas frame in chexpert-labeler's output format
"""
from xgem_bench.labelers.chexpert import (LABELER_SETTINGS, CheXpertLabeler, check_labeler_settings, default_labeler,
                                          label_dataframe, label_reports)

__all__ = ["LABELER_SETTINGS", "CheXpertLabeler", "check_labeler_settings", "default_labeler", "label_dataframe",
           "label_reports"]
