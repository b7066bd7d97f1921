"""Table A3 of the XGeM paper (published values, transcribed by hand from shared/paper/xgem-paper.txt, Appendix A3;
not measured by xgem-bench): mean ± sd of three radiologists' 1-5 ratings per task and data type, XGeM's synthetic
items against real ones."""
from __future__ import annotations

PAPER_SOURCE = "XGeM paper (arXiv 2501.04614), Table A3: published values, not measured by xgem-bench"
#: (VTT task id, "real" | "synthetic") -> (mean, sd)
PAPER_TABLE_A3 = {
    ("xray-realism", "real"): (4.1, 0.9), ("xray-realism", "synthetic"): (3.7, 0.8),
    ("report-realism", "real"): (3.5, 0.9), ("report-realism", "synthetic"): (4.0, 0.9),
    ("report-xray-pair", "real"): (3.4, 1.3), ("report-xray-pair", "synthetic"): (3.3, 1.1),
    ("xray-report", "real"): (3.7, 0.9), ("xray-report", "synthetic"): (3.9, 0.8),
    ("xray-pair", "real"): (3.8, 0.7), ("xray-pair", "synthetic"): (3.6, 0.8),
}
