"""The paper's published values for §4.5 (Tables 8-11 frontal, A4-A6 lateral), transcribed from arXiv 2501.04614.

Per table: the rows in the paper's order, each a label and its values by column key (as in `xgem_bench.utility.tables`).
Table 11 / A6 rows carry their real and synthetic sizes. Table A5's second row is printed "Synthetic" in the paper,
though it is the balanced real + synthetic arm of Table 10.
"""
from __future__ import annotations

_AVG = ("auc_micro", "auc_macro", "auc_weighted", "f1_micro", "f1_macro", "f1_weighted")
_F1_IMBALANCE = ("f1/Atelectasis", "f1/Cardiomegaly", "f1/Consolidation", "f1/Edema", "f1/Pleural Effusion",
                 "f1_micro", "f1_macro", "f1_weighted")


def _rows(keys, rows):
    return [(label, dict(zip(keys, values))) for label, values in rows]


def _scarcity(rows):
    return [(f"{real // 1000}k + {syn // 1000}k", {"n_real": real, "n_synthetic": syn, **dict(zip(_AVG, values))})
            for real, syn, values in rows]


PAPER = {
    ("anonymization", "F"): _rows(_AVG, [("Real", (.75, .74, .74, .30, .20, .21)),
                                         ("Synthetic", (.74, .73, .73, .34, .23, .23))]),
    ("anonymization", "L"): _rows(_AVG, [("Real", (.77, .73, .73, .34, .23, .24)),
                                         ("Synthetic", (.75, .70, .69, .37, .26, .27))]),
    ("imbalance", "F"): _rows(_F1_IMBALANCE, [("Real", (.34, .42, .17, .67, .64, .50, .45, .45)),
                                              ("Real + Synthetic", (.48, .48, .33, .69, .72, .58, .54, .54))]),
    ("imbalance", "L"): _rows(_F1_IMBALANCE, [("Real", (.32, .41, .13, .70, .63, .46, .40, .41)),
                                              ("Real + Synthetic", (.34, .43, .15, .65, .63, .48, .42, .43))]),
    ("scarcity", "F"): _scarcity([(15_000, 0, (.68, .66, .67, .21, .14, .15)),
                                  (15_000, 5_000, (.70, .69, .69, .24, .17, .18)),
                                  (15_000, 15_000, (.72, .71, .71, .27, .19, .20)),
                                  (15_000, 30_000, (.74, .72, .73, .29, .21, .20)),
                                  (15_000, 60_000, (.74, .73, .73, .33, .23, .22))]),
    ("scarcity", "L"): _scarcity([(15_000, 0, (.68, .65, .66, .22, .15, .16)),
                                  (15_000, 5_000, (.70, .67, .68, .25, .17, .18)),
                                  (15_000, 15_000, (.72, .70, .70, .28, .20, .21)),
                                  (15_000, 30_000, (.74, .72, .72, .31, .22, .23)),
                                  (15_000, 60_000, (.74, .73, .73, .34, .23, .24))]),
}
#: the paper's Table 9: share of positives per class in its training set (frontal)
PAPER_TABLE9 = {"Atelectasis": .156, "Cardiomegaly": .135, "Consolidation": .0299, "Edema": .104,
                "Pleural Effusion": .141}
TABLE_NUMBERS = {("anonymization", "F"): "8", ("imbalance", "F"): "10", ("scarcity", "F"): "11",
                 ("anonymization", "L"): "A4", ("imbalance", "L"): "A5", ("scarcity", "L"): "A6"}
