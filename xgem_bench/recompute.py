"""A stored metric value, recomputed over any multiset of studies: the bridge from the results store to the
generic statistics of `xgem_bench.stats` (bootstrap intervals, paired tests).

The metric that wrote a record owns how its value is rebuilt from the record's per-study rows (`per_sample.csv`) and
artefacts: `Metric.resampleable(stored, key)` (default: the mean of a per-study value; corpus BLEU, label F1, AUC and
FID bring their own). A new metric therefore needs no edit here nor in `stats`. Every rebuilt statistic must give back
the stored aggregate on all studies, or no interval is drawn from it (`stats.check_reproduces`).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from xgem_bench.stats import Resampleable, StatsUnavailable, check_reproduces, mean_of


@dataclass(frozen=True)
class StoredRecord:
    """One metric record of one model in a finished run (an entry of results.json) and the files beside it."""

    run: dict
    model: str
    record: dict

    @property
    def metric(self) -> str:
        return self.record["metric"]

    @property
    def settings(self) -> dict:
        return self.record.get("settings") or {}

    def per_sample(self):
        """The run's per-study values of this record: a DataFrame indexed by study_id, one column per key."""
        try:
            frame = _per_sample(self.run["run_dir"])
        except FileNotFoundError as error:
            raise StatsUnavailable(f"{self.run['run_dir']} has no per_sample.csv") from error
        rows = frame[(frame["model"] == self.model) & (frame["metric"] == self.metric)
                     & (frame["modality"].astype(str) == str(self.record["modality"]))]
        if rows.empty:
            raise StatsUnavailable(f"per_sample.csv of {self.run['run_dir']} has no rows for {self.model}, "
                                   f"{self.metric}")
        return rows.pivot(index="study_id", columns="key", values="value")

    def mean_of(self, key: str) -> Resampleable:
        """The common statistic: the mean of one per-study value."""
        table = self.per_sample()
        if key not in table:
            raise StatsUnavailable(f"{self.metric} records no per-study {key!r}")
        return mean_of(table[key].to_numpy(dtype=np.float64), table.index, f"mean of per-study {key}")

    def rows(self, columns: list[str], statistic, description: str) -> Resampleable:
        """A statistic over several per-study columns (in this order), one row per study."""
        table = self.per_sample()
        return Resampleable(table.index, table[columns].to_numpy(dtype=np.float64), statistic, description)

    def artifact(self) -> Path:
        """Where the run kept this record's per-study artefact (e.g. FID features)."""
        return Path(self.run["run_dir"]) / "artifacts" / self.model / f"{self.metric}-{self.record['modality']}.npz"


@lru_cache(maxsize=16)
def _per_sample(run_dir: str):
    from xgem_bench.results import load_per_sample
    return load_per_sample(run_dir)


def _metric_class(name: str):
    """The installed metric class of a record; the base class (mean of per-study values) when it is not installed."""
    from xgem_bench.metrics import METRICS, Metric, get_metric_class
    return get_metric_class(name) if name in METRICS else Metric


def run_resampleable(run: dict, model: str, record: dict, key: str) -> Resampleable:
    """Per-study data of value `key` of one metric record of `model` in `run`, checked to reproduce the stored value."""
    if record.get("status") != "ok" or key not in record.get("values", {}):
        raise StatsUnavailable(f"{record.get('metric')} has no value {key!r} for {model}")
    data = _metric_class(record["metric"]).resampleable(StoredRecord(run, model, record), key)
    return check_reproduces(data, record, key)


def default_test(metric: str) -> str:
    """The paired test a metric asks for (FID: approximate randomisation at fixed N, see `intervals`)."""
    return _metric_class(metric).paired_test
