"""The runs behind a table or plot, indexed by (task, row label): each model's metric records, cells and intervals.

Read side only: numbers come from the results store (`xgem_bench.results`); intervals and paired tests recompute a
value over studies through the metric's own recomputation (`xgem_bench.recompute`) and the generic machinery of
`xgem_bench.stats`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from xgem_bench import stats
from xgem_bench.recompute import default_test, run_resampleable


@dataclass
class Cell:
    value: float | None = None
    low: float | None = None
    high: float | None = None
    #: interval method and the point it is built around (a bias-corrected value for FID's half-sampling)
    ci_method: str | None = None
    ci_estimate: float | None = None
    #: "" (a number), "-" (task not supported / not run), "n/a" (metric skipped or failed)
    mark: str = ""
    bold: bool = False
    #: studies behind the number (the model's generated and scored studies)
    n: int | None = None




class Measurements:
    """The runs of a table, indexed by (task, row label).

    The row label is the model name; when one model ran with different adapter settings in different runs (e.g. joint
    vs independent generation for Table 7), each label adds the settings that differ: `xgem (joint=independent)`.
    """

    def __init__(self, runs: Sequence[dict]):
        self.runs = list(runs)
        self.entries: dict[tuple[str, str], tuple[dict, dict]] = {}
        self.names: dict[tuple[str, str], str] = {}  # (task, label) -> model name in the run
        self.notes: list[str] = []
        self.details: dict[str, str] = {}
        #: (metric, problem, reason) -> "model on task", ...: one note per missing metric, not one per model
        self.missing: dict[tuple[str, str, str], list[str]] = {}
        seen_settings: dict[str, list[dict]] = {}
        for run in self.runs:
            for model, entry in run["models"].items():
                seen_settings.setdefault(model, []).append(entry.get("settings") or {})
        for run in self.runs:
            for model, entry in run["models"].items():
                key = (run["task"], _label(model, entry.get("settings") or {}, seen_settings[model]))
                if key in self.entries:
                    other = self.entries[key][0]
                    if _same_configuration(other, self.entries[key][1], run, entry):  # a shared baseline: one row
                        self._note(f"{model} on {run['task']} ran with identical settings in "
                                   f"{other.get('run_dir', other['run_id'])} and {run.get('run_dir', run['run_id'])}"
                                   f"; one row, from the first")
                        continue
                    raise ValueError(f"model {model!r} on task {run['task']} appears in two runs with the same "
                                     f"settings ({other.get('run_dir', other['run_id'])} and "
                                     f"{run.get('run_dir', run['run_id'])}); pass only one of them")
                self.entries[key] = (run, entry)
                self.names[key] = model

    def models(self) -> list[str]:
        """Every model of the runs, in first-seen order."""
        seen: list[str] = []
        for _, model in self.entries:
            if model not in seen:
                seen.append(model)
        return seen

    def record(self, task: str, model: str, metric: str) -> tuple[dict, dict] | None:
        """(run, metric record) of `metric` for a model on a task, whatever its modality; None if absent."""
        found = self.entries.get((task, model))
        if not found or found[1].get("status") != "ok":
            return None
        run, entry = found
        for record in entry.get("metrics", {}).values():
            if record["metric"] == metric:
                return run, record
        return None

    def interval(self, task: str, model: str, metric: str, key: str, ci: dict):
        """The bootstrap interval of one value over studies (`ci`: n_resamples, level, seed), or None when the run
        cannot resample it (a note says why). Shared by tables and plots."""
        run, record = self.record(task, model, metric)
        try:
            data = run_resampleable(run, self.names[(task, model)], record, key)
            return stats.bootstrap_ci(data, n_resamples=ci["n_resamples"], level=ci["level"], seed=ci["seed"])
        except stats.StatsUnavailable as error:
            self._note(f"no interval for {model} on {task}, {metric} {key}: {error}")
            return None

    def cell(self, task: str, model: str, metric: str, key: str) -> Cell:
        if (task, model) not in self.entries or self.entries[(task, model)][1].get("status") != "ok":
            return Cell(mark="-")
        found = self.record(task, model, metric)
        if found is None:
            return self._missing(metric, "was not run", "", model, task)
        _, record = found
        if record.get("status") != "ok":
            return self._missing(metric, str(record.get("status")), str(record.get("reason") or ""), model, task)
        if record.get("backbone"):  # a stand-in backbone (the demo's) is named under every table that uses it
            self._note(f"{metric}: {record['backbone']}")
        value = record.get("values", {}).get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return self._missing(metric, f"has no value {key!r}", "", model, task)
        return Cell(value=float(value), n=self.entries[(task, model)][1].get("n_generated"))

    def _missing(self, metric: str, problem: str, reason: str, model: str, task: str) -> Cell:
        who = self.missing.setdefault((metric, problem, reason), [])
        if f"{model} on {task}" not in who:
            who.append(f"{model} on {task}")
        return Cell(mark="n/a")

    def missing_notes(self) -> list[str]:
        notes = []
        for (metric, problem, reason), who in self.missing.items():
            note = f"n/a: {metric} {problem} for {', '.join(who)}"
            notes.append(note)
            if reason:
                self.details[note] = reason
        return notes

    def higher_is_better(self, metric: str) -> bool:
        for run in self.runs:
            for entry in run["models"].values():
                for record in entry.get("metrics", {}).values():
                    if record["metric"] == metric and "higher_is_better" in record:
                        return bool(record["higher_is_better"])
        from xgem_bench.metrics import METRICS, get_metric_class
        return get_metric_class(metric).higher_is_better if metric in METRICS else True

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def _same_configuration(run_a: dict, a: dict, run_b: dict, b: dict) -> bool:
    """Same generations (the cache key covers adapter, version, checkpoint, task, settings and dataset) of the same
    studies with the same seed, scored with the same metric settings."""
    def metrics(entry):
        return {k: (m.get("status"), m.get("signature")) for k, m in entry.get("metrics", {}).items()}

    def studies(run):
        data = run.get("dataset", {})
        return run.get("seed"), data.get("split"), data.get("limit"), data.get("n_evaluated")
    return (a.get("cache_key") is not None and a.get("cache_key") == b.get("cache_key")
            and studies(run_a) == studies(run_b) and metrics(a) == metrics(b))


def _label(model: str, settings: dict, all_settings: list[dict]) -> str:
    varying = sorted({k for other in all_settings for k in set(other) | set(settings)
                      if any(o.get(k) != settings.get(k) for o in all_settings)})
    return f"{model} ({', '.join(f'{k}={settings.get(k)}' for k in varying)})" if varying else model



def dataset_descriptions(measured: Measurements) -> list[str]:
    found = {(r["dataset"]["name"], r["dataset"].get("split", ""), bool(r["dataset"].get("synthetic")))
             for r in measured.runs}
    return [f"{name} (split {split}{', synthetic' if synthetic else ''})" for name, split, synthetic in sorted(found)]


def compare_models(runs: Sequence[dict], task: str, metric: str, key: str, model_a: str, model_b: str,
                   test: str | None = None, n_resamples: int = stats.DEFAULT_RESAMPLES, seed: int = stats.DEFAULT_SEED,
                   level: float = stats.DEFAULT_LEVEL) -> dict:
    """Paired test of value `key` of `metric` between two models (table row labels) on the studies both scored;
    `test` None picks the metric's own (`Metric.paired_test`)."""
    test = test or default_test(metric)
    if test not in stats.PAIRED_TESTS:
        raise ValueError(f"unknown test {test!r}; choose {' or '.join(stats.PAIRED_TESTS)}")
    measured = Measurements(runs)
    sides = []
    for model in (model_a, model_b):
        found = measured.record(task, model, metric)
        if found is None:
            raise ValueError(f"no successful {metric} result for model {model!r} on task {task} in these runs")
        sides.append(run_resampleable(found[0], measured.names[(task, model)], found[1], key))
    options = {"n_resamples": n_resamples, "seed": seed} | ({"level": level} if test == "bootstrap" else {})
    result = stats.PAIRED_TESTS[test](*sides, **options)
    return {"task": task, "metric": metric, "key": key, "a": model_a, "b": model_b,
            "statistic": sides[0].description, **result.to_dict()}
