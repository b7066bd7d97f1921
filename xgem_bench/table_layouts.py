"""The layouts of the paper's tables: the one place that maps paper columns to metrics and value keys.

A table has panels; a panel has columns (one metric value each) and, for Tables 3 and 5, row groups by task. The
builders (`xgem_bench.tables`) read the runs through these declarations only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from xgem_bench.data.study import PAPER_PATHOLOGIES

#: adapter name -> the model's name in the paper (also the row label of its published values)
PAPER_NAMES = {"xgem": "XGeM", "codi-xr": "CoDiXR", "codi": "CoDi", "roentgen": "RoentGen", "unixgen": "UniXGen",
               "llm-cxr": "LLM-CXR", "cxrmate": "CXRMate", "oracle": "Real Data"}
#: models that are references, not competitors: shown, never bold
REFERENCE_MODELS = frozenset({"oracle"})
TABLES = ("2", "3", "4", "5", "6", "7", "A1", "A2", "B1")  # B1: beyond the paper (issue 15)
#: Table 1 holds no model results: the ground-truth counts behind Table 3, from the runs' XRV-classification records
COUNT_TABLE = "1"


@dataclass(frozen=True)
class Column:
    label: str  # sub-header (and the column name in the paper's data file)
    metric: str
    key: str
    #: task of the column; None when rows are grouped by task (the row's task is used)
    task: str | None = None
    group: str = ""  # top header spanning several columns


@dataclass(frozen=True)
class Panel:
    title: str  # the paper's panel name ("AUC", "F1" in Table 3), "" for single-panel tables
    columns: tuple[Column, ...]
    #: rows grouped by these tasks (Tables 3, 5); empty: one row per model, tasks in the column groups
    row_tasks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layout:
    number: str
    caption: str
    panels: tuple[Panel, ...]


_IMAGE_TASKS = ("T->F", "L->F", "L+T->F", "T->L", "F->L", "F+T->L")
_REPORT_TASKS = ("F->T", "L->T", "F+L->T")
JOINT_TASKS = ("T->F+L", "L->F+T", "F->L+T")
_SHORT = {"Atelectasis": "Atl.", "Cardiomegaly": "Cmgl.", "Consolidation": "Cnsl.", "Edema": "Edm.",
          "Enlarged Cardiomediastinum": "Enl.", "Lung Lesion": "Les.", "Lung Opacity": "Opc.",
          "Pleural Effusion": "Eff.", "Pneumonia": "Pnm.", "Pneumothorax": "Ptx.", "No Finding": "No F."}
_AVERAGES = (("Micro", "micro"), ("Macro", "macro"), ("Weighted", "weighted"))


def _task_columns(tasks, spec: Sequence[tuple[str, str, str]]) -> tuple[Column, ...]:
    """Per task, one column per (label, metric, key)."""
    return tuple(Column(label, metric, key, task=task, group=task) for task in tasks for label, metric, key in spec)


def _class_columns(metric: str, score: str, labels: Sequence[str]) -> tuple[Column, ...]:
    """Per class `<score>/<label>`, then the averages `<score>_micro|macro|weighted`."""
    per_class = [Column(_SHORT[name], metric, f"{score}/{name}") for name in labels]
    return tuple(per_class + [Column(label, metric, f"{score}_{avg}") for label, avg in _AVERAGES])


_BLEU = tuple((f"BLEU-{n}", "bleu", f"bleu{n}") for n in range(1, 5))
XRV_TASKS = ("T->F", "L->F", "L+T->F")

_BEYOND_IMAGES = (("KID", "kid-inception", "kid"), ("Prec.", "prdc-inception", "precision"),
                  ("Rec.", "prdc-inception", "recall"), ("Dens.", "prdc-inception", "density"),
                  ("Cov.", "prdc-inception", "coverage"), ("FD∞", "fd-infinity-inception", "fd_infinity"),
                  ("CMMD", "cmmd-clip", "cmmd"), ("Memorised", "memorisation-image", "above_threshold"),
                  ("NN sim.", "memorisation-image", "nn_similarity"))
_BEYOND_REPORTS = (("Copies", "memorisation-report", "exact_copy"),
                   ("4-gram overlap", "memorisation-report", "ngram_overlap"),
                   ("Near copies", "memorisation-report", "near_copy"))

LAYOUTS: dict[str, Layout] = {
    "2": Layout("2", "FID of generated X-rays (lower is better); v3 = Inception-v3, XRV = XRV-DenseNet backbone.",
                (Panel("", _task_columns(_IMAGE_TASKS, [("v3", "fid-inception", "fid"), ("XRV", "fid-xrv", "fid")])),)),
    "A1": Layout("A1", "FID of generated X-rays with the XRV-mimic backbone (lower is better).",
                 (Panel("", _task_columns(_IMAGE_TASKS, [("XRV-mimic", "fid-xrv-mimic", "fid")])),)),
    "3": Layout("3", "XRV-DenseNet classification of generated frontal X-rays: AUC and F1 per pathology.",
                (Panel("AUC", _class_columns("xrv-classification", "auc", PAPER_PATHOLOGIES), XRV_TASKS),
                 Panel("F1", _class_columns("xrv-classification", "f1", PAPER_PATHOLOGIES), XRV_TASKS))),
    "4": Layout("4", "BLEU of generated reports (higher is better).", (Panel("", _task_columns(_REPORT_TASKS, _BLEU)),)),
    "5": Layout("5", "CheXpert-labeler F1 of generated reports per finding.",
                (Panel("", _class_columns("chexpert-f1", "f1", PAPER_PATHOLOGIES + ("No Finding",)), _REPORT_TASKS),)),
    "6": Layout("6", "RadGraph-F1 and RaTEScore of generated reports (higher is better).",
                (Panel("", _task_columns(_REPORT_TASKS, [("RadGraph-F1", "radgraph-f1", "radgraph_f1"),
                                                         ("RaTE", "ratescore", "ratescore")])),)),
    "A2": Layout("A2", "Intra-study BLEU: the reports generated for one study from its frontal (F->T) and from its "
                       "lateral (L->T) X-ray scored against each other (higher is better).",
                 (Panel("", tuple(Column(label, metric, key) for label, metric, key in _BLEU)),)),
    # beyond the paper (issue 15 §1-2); to join the extended layout of issue 15 §3-5 when it lands
    "B1": Layout("B1", "Beyond the paper: distribution metrics and memorisation of the training split. Images: KID, "
                       "precision/recall/density/coverage (Inception), FD∞, CMMD (CLIP), share of generated images "
                       "at or above the memorisation threshold and mean nearest-training similarity; reports: "
                       "exact-copy rate, mean 4-gram overlap with the closest training report, near-copy rate.",
                 (Panel("Images", tuple(Column(label, metric, key) for label, metric, key in _BEYOND_IMAGES),
                        _IMAGE_TASKS),
                  Panel("Reports", tuple(Column(label, metric, key) for label, metric, key in _BEYOND_REPORTS),
                        _REPORT_TASKS))),
}
#: Table A2 pairs the reports a model generated for the same study in these runs (read from the generation cache)
INTRA_STUDY_TASKS = ("F->T", "L->T")
# Table 7 turns the other way (rows = joint tasks, one column per model); its metric:
COHERENCE_METRIC, COHERENCE_KEY, COHERENCE_REAL_KEY = "coherence-cosine", "cosine", "cosine_real"

