"""The five tasks of the paper's Visual Turing Test (XGeM §3.5.3, Table A3, Figure 6) and its 1-5 scale.

Each task shows a rater one item at a time; an item is real or synthetic, and what is synthetic differs by task:
the X-ray (realism), the report (realism), the report beside a real F+L pair, the X-ray(s) beside their real report,
or one view beside the other, real, view.
"""
from __future__ import annotations

from dataclasses import dataclass

from xgem_bench.tasks import Modality, Task

SCALE = (1, 2, 3, 4, 5)
# The paper anchors the ends only: "A score of 1 indicated the poorest quality, while a score of 5 represented the
# highest level of quality and coherence." The middle points stay unlabelled, as on the paper's platform.
SCALE_ANCHORS = {1: "poorest quality", 5: "highest quality and coherence"}


@dataclass(frozen=True)
class VttTask:
    id: str
    title: str            # as in Table A3
    radar_label: str      # as on the axes of Figure 6
    data_type: str        # what is real or synthetic: "X-rays" or "Reports" (Table A3's "Data Type" column)
    question: str         # shown above every item
    high_score: str       # the paper's description of a high score

    @property
    def shows_report(self) -> bool:
        """Whether its items show a report (the two X-ray-only tasks do not)."""
        return self.id not in ("xray-realism", "xray-pair")

    def accepts(self, task: Task) -> bool:
        """Can a run of `task` supply this VTT task's synthetic items?"""
        outputs, inputs = set(task.outputs), set(task.inputs)
        if self.id == "xray-realism":
            return any(m.is_image for m in outputs)
        if self.id in ("report-realism", "report-xray-pair"):
            return Modality.REPORT in outputs
        if self.id == "xray-report":  # X-rays generated from the report they are shown with
            return Modality.REPORT in inputs and any(m.is_image for m in outputs)
        if self.id == "xray-pair":  # one view generated from the other, real, view
            return any(m.is_image for m in inputs) and any(m.is_image for m in outputs)
        raise AssertionError(self.id)


VTT_TASKS = (
    VttTask("xray-realism", "General X-ray Realism", "X-ray realism", "X-rays",
            "How realistic is this chest X-ray?",
            "indistinguishable from a real clinical X-ray: accurate anatomy, no visible artefact that could mislead a "
            "clinician"),
    VttTask("report-realism", "General Report Realism", "Report realism", "Reports",
            "How plausible and realistic is this radiology report?",
            "reflects a clinical context with appropriate medical terminology and clinically relevant findings, as a "
            "real report would"),
    VttTask("report-xray-pair", "Report Coherence with X-ray Pair", "Report/X-ray pair coherence", "Reports",
            "How consistent is this report with the frontal and lateral X-rays?",
            "no contradiction or inconsistency between the reported findings and the visual evidence of both views"),
    VttTask("xray-report", "Coherence Between Report and X-ray", "Report/X-ray coherence", "X-rays",
            "How plausible are these X-rays given this report?",
            "the X-ray shows the findings the report describes"),
    VttTask("xray-pair", "Coherence Between X-ray Pairs", "X-ray pair consistency", "X-rays",
            "How consistent are the frontal and lateral views with each other?",
            "both views show the same clinical findings, with proper anatomical alignment and no conflicting features"),
)
TASKS_BY_ID = {t.id: t for t in VTT_TASKS}
