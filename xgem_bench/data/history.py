"""A subject's previous study, as longitudinal report generators (CXRMate) look it up."""
from __future__ import annotations

import pandas as pd

from xgem_bench.data.dataset import Dataset


def previous_studies(dataset: Dataset) -> dict[str, str | None]:
    """For each study id, the same subject's immediately previous study in the same split, ordered by study_datetime.

    None for a subject's first study, for a study without a datetime, and wherever two of a subject's studies share
    a datetime (their order is unknown; CXRMate's PreviousReportSubset drops such studies): the tied studies and the
    study right after them have no known previous one.
    """
    table = pd.DataFrame({"study_id": dataset.study_ids, "subject_id": dataset.subject_ids,
                          "split": dataset.splits, "when": dataset.study_datetimes})
    previous: dict[str, str | None] = dict.fromkeys(table["study_id"])
    dated = table[table["when"] != ""]
    for _, history in dated.groupby(["subject_id", "split"], sort=False):
        groups = [group["study_id"].tolist() for _, group in history.groupby("when", sort=True)]
        for before, current in zip(groups, groups[1:]):
            if len(before) == 1 and len(current) == 1:
                previous[current[0]] = before[0]
    return previous
