"""Stratified results: every metric value of a run recomputed on subsets (strata) of its studies.

Stratifiers (`by`), from the dataset's reference data of the evaluated studies (no pixels read):

- ``pathology``: per finding (the paper's ten and No Finding), the studies whose reference label is positive (1);
  a study with several findings is in several strata.
- ``view``: the frontal's ViewPosition (PA / AP) where the dataset records it (manifest column `frontal_view`).
- ``sex``, ``age`` (bands `AGE_BANDS`), ``race``: from the manifest's optional metadata columns.

A stratifier is left out when no evaluated study has its attribute; studies with a blank attribute are in no stratum
of it (counted as `n_unknown`). A value is recomputed exactly as the metric computes it, through the per-study data
that intervals resample (`recompute.run_resampleable`): set-level metrics on the stratum's studies only (FID between the
stratum's generated and real images when the reference set is the evaluated studies, corpus BLEU from the stratum's
n-gram counts, label F1 / AUC from the stratum's labels), per-study metrics as the mean over the stratum (CIDEr-D
keeps the IDF of the whole scored set). Strata with fewer than `min_studies` studies are flagged `too_small`: their
value is stored but tables print `n<MIN` instead. Per-class values (keys with "/") and counts are not stratified.

Written beside the aggregates: `strata.csv` (model, metric, modality, key, by, stratum, n, value, too_small),
`strata.json` (the study ids of every stratum, for intervals), and `results.json["strata"]` (settings, stratum
sizes, a digest of the attributes used).
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from xgem_bench.atomic import atomic_write_text
from xgem_bench.data.study import PAPER_PATHOLOGIES

STRATIFIERS = ("pathology", "view", "sex", "age", "race")
PATHOLOGY_STRATA = (*PAPER_PATHOLOGIES, "No Finding")
#: (label, lowest age, first age above the band)
AGE_BANDS = (("0-39", 0, 40), ("40-59", 40, 60), ("60-79", 60, 80), ("80+", 80, math.inf))
DEFAULT_MIN_STUDIES = 10
STRATA_COLUMNS = ("model", "metric", "modality", "key", "by", "stratum", "n", "value", "too_small")
CSV_FILE, MEMBERS_FILE = "strata.csv", "strata.json"
_ATTRIBUTE_OF = {"view": "frontal_view", "sex": "sex", "age": "age", "race": "race"}


def study_attributes(dataset, indices: Sequence[int]) -> pd.DataFrame:
    """One row per evaluated study (index: study_id): its CheXpert labels and the stratifying attributes ("" =
    unknown), read without pixels."""
    table = getattr(dataset, "table", None)
    if isinstance(table, pd.DataFrame):
        rows = table.iloc[list(indices)]
        columns = {name: rows[name] if name in rows else pd.Series("", index=rows.index)
                   for name in (*PATHOLOGY_STRATA, *_ATTRIBUTE_OF.values())}
        frame = pd.DataFrame(columns)
        frame.index = rows["study_id"].astype(str).tolist()
    else:  # any other Dataset: labels and view from the study records (no modality decoded)
        records = {}
        for i in indices:
            study = dataset.load(int(i), ())
            records[study.study_id] = {**{name: study.labels.get(name, np.nan) for name in PATHOLOGY_STRATA},
                                       "frontal_view": study.frontal_view, "sex": "", "age": "", "race": ""}
        frame = pd.DataFrame.from_dict(records, orient="index",
                                       columns=[*PATHOLOGY_STRATA, *_ATTRIBUTE_OF.values()])
    return frame


def age_band(age) -> str:
    try:
        years = float(age)
    except (TypeError, ValueError):
        return ""
    if math.isnan(years):
        return ""
    return next(label for label, low, high in AGE_BANDS if low <= years < high)


def membership(attributes: pd.DataFrame) -> dict[str, dict[str, list[str]]]:
    """by -> stratum -> study ids (stratifiers with no known attribute are left out)."""
    members: dict[str, dict[str, list[str]]] = {}
    ids = attributes.index.astype(str)
    labels = {name: pd.to_numeric(attributes[name], errors="coerce") for name in PATHOLOGY_STRATA}
    pathology = {name: ids[(values == 1).to_numpy()].tolist() for name, values in labels.items()}
    if any(pathology.values()):
        members["pathology"] = {name: found for name, found in pathology.items() if found}
    for by, column in _ATTRIBUTE_OF.items():
        values = attributes[column].map(age_band) if by == "age" else attributes[column].fillna("").astype(str)
        known = sorted(v for v in set(values) if v)
        if by == "age":
            known = [label for label, _, _ in AGE_BANDS if label in known]
        if known:
            members[by] = {value: ids[(values == value).to_numpy()].tolist() for value in known}
    return members


def _stratified_keys(record: dict) -> list[str]:
    """The values of a metric record worth stratifying: not counts, flags or per-class values."""
    return [key for key, value in record.get("values", {}).items()
            if isinstance(value, float) and "/" not in key and key != "n" and not key.startswith("n_")]


def stratified_rows(run: dict, members: dict[str, dict[str, list[str]]], min_studies: int
                    ) -> tuple[list[tuple], dict[str, str]]:
    """STRATA_COLUMNS rows for every successful metric value of every model of `run` (a loaded run), and the
    reasons of values that could not be stratified ("model metric/modality key" -> reason)."""
    from xgem_bench.recompute import run_resampleable
    from xgem_bench.stats import StatsUnavailable
    rows, not_stratified = [], {}
    for model, entry in run["models"].items():
        if entry.get("status") != "ok":
            continue
        for metric_key, record in entry.get("metrics", {}).items():
            if record.get("status") != "ok":
                continue
            for key in _stratified_keys(record):
                try:
                    data = run_resampleable(run, model, record, key)
                except (StatsUnavailable, ValueError) as error:
                    if key == record.get("primary"):
                        not_stratified[f"{model} {metric_key} {key}"] = str(error)
                    continue
                scored = set(data.study_ids.tolist())
                for by, strata in members.items():
                    for stratum, ids in strata.items():
                        inside = [i for i in ids if i in scored]
                        if not inside:
                            continue
                        value = _value(data.subset(inside))
                        rows.append((model, record["metric"], record["modality"], key, by, stratum, len(inside),
                                     value, int(len(inside) < min_studies)))
    return rows, not_stratified


def _value(data) -> float:
    """The statistic of a stratum; NaN where it is undefined there (e.g. an AUC with one class, FID of 1 image)."""
    try:
        with np.errstate(all="ignore"):
            return float(data.value())
    except (ValueError, ZeroDivisionError, np.linalg.LinAlgError, IndexError):
        return float("nan")


def add_strata(run_dir: Path, results: dict, dataset, indices: Sequence[int],
               min_studies: int = DEFAULT_MIN_STUDIES) -> dict:
    """Stratify a just-written run: write strata.csv and strata.json, then results.json again with `strata` (the
    summary, also returned). A failure is recorded as the summary's status and reason; the run stands."""
    from xgem_bench.results import _csv_text, _jsonable
    run_dir = Path(run_dir)
    started = time.perf_counter()
    try:
        attributes = study_attributes(dataset, indices)
        members = membership(attributes)
        rows, not_stratified = stratified_rows({**results, "run_dir": str(run_dir)}, members, min_studies)
        atomic_write_text(run_dir / CSV_FILE, _csv_text(STRATA_COLUMNS, rows))
        atomic_write_text(run_dir / MEMBERS_FILE, json.dumps(members, indent=1))
        digest = hashlib.sha256(attributes.astype(str).to_csv().encode()).hexdigest()[:16]
        summary = {"status": "ok", "settings": {"min_studies": min_studies,
                                                "age_bands": [label for label, _, _ in AGE_BANDS],
                                                "pathology": "reference label positive (1)"},
                   "by": {by: {stratum: len(ids) for stratum, ids in strata.items()} for by, strata in members.items()},
                   "n_unknown": {by: int(len(attributes) - len({i for ids in members[by].values() for i in ids}))
                                 for by in members if by != "pathology"},
                   "not_stratified": not_stratified, "attributes_digest": digest,
                   "files": [CSV_FILE, MEMBERS_FILE], "seconds": round(time.perf_counter() - started, 3)}
    except Exception as error:  # noqa: BLE001 - the run's aggregates are written; strata are an addition
        summary = {"status": "failed", "reason": f"{type(error).__name__}: {error}"}
    results["strata"] = summary
    atomic_write_text(run_dir / "results.json", json.dumps(results, indent=2, default=_jsonable))
    return summary


# ---- reading ------------------------------------------------------------------------------------------------------
class StrataUnavailable(ValueError):
    """The run holds no strata (made before stratified results existed, or their computation failed)."""


def load_strata(run: dict) -> tuple[pd.DataFrame, dict[str, dict[str, list[str]]]]:
    """strata.csv of a loaded run as a DataFrame, and the study ids of each stratum."""
    summary = run.get("strata") or {}
    folder = Path(run["run_dir"])
    if summary.get("status") != "ok" or not (folder / CSV_FILE).is_file():
        why = summary.get("reason") or "it was made before stratified results existed"
        raise StrataUnavailable(f"run {run['run_id']} has no strata ({why}); run it again to get them")
    frame = pd.read_csv(folder / CSV_FILE, dtype={"stratum": str, "model": str})
    members = json.loads((folder / MEMBERS_FILE).read_text())
    return frame, members


def check_by(by: str) -> str:
    if by not in STRATIFIERS:
        raise ValueError(f"unknown stratifier {by!r}; choose one of {', '.join(STRATIFIERS)}")
    return by
