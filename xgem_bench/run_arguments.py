"""The runner's arguments, checked before anything is generated: models, metrics, their settings and the eligible
studies. Every error here is a `RunError` that says what to choose instead, raised before a run folder exists."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from xgem_bench.adapters import Adapter, adapter_names, get_adapter_class
from xgem_bench.data import Dataset
from xgem_bench.metrics import applies_to, get_metric_class, metric_names
from xgem_bench.tasks import Task


class RunError(RuntimeError):
    """The run cannot start (bad arguments, no eligible studies, unwritable output)."""


def parse_names(names: Sequence[str] | str | None) -> list[str] | None:
    """Names given as a list, a comma-separated string or both; None when none is given."""
    if names is None:
        return None
    if isinstance(names, str):
        names = [names]
    flat = [n.strip() for item in names for n in item.split(",") if n.strip()]
    return flat or None


def check_settings(kind: str, cls: type, given: dict) -> None:
    """The settings' keys and closed values, checked before the run starts."""
    try:
        cls.resolve_settings(given)
    except ValueError as error:
        raise RunError(f"{error} (`xgem-bench {kind}s {cls.name}` lists them with defaults)") from None


def resolve_models(task: Task, names: list[str] | None, predictions: dict[str, Path],
                   model_settings: dict[str, dict[str, Any]]) -> list[str]:
    """The models of the run: the named ones and one per --predictions; by default every model claiming the task."""
    clash = sorted(set(predictions) & set(adapter_names()))
    if clash:
        raise RunError(f"predictions named {clash} clash with model names; call them e.g. 'mine-{clash[0]}'")
    if names is None and not predictions:  # every model that claims the task; unavailable ones: skipped
        return [n for n in adapter_names() if get_adapter_class(n).supports(task)]
    for name in names or []:
        get_adapter_class(name)  # raises with the closest valid names
    names = [*(names or []), *predictions]
    unknown = set(model_settings) - set(names)
    if unknown:
        raise RunError(f"settings given for model(s) not in the run: {sorted(unknown)}")
    for name, settings in model_settings.items():  # before any folder is made, not halfway through
        if name not in predictions:  # a predictions adapter checks its settings when it indexes its files
            check_settings("model", get_adapter_class(name), settings)
    return names


def prediction_adapters(task: Task, predictions: dict[str, Path], model_settings: dict[str, dict[str, Any]]
                        ) -> dict[str, Adapter]:
    """One predictions adapter per --predictions NAME=PATH, its files indexed now: a wrong layout or column name is
    an error before any run folder exists."""
    from xgem_bench.adapters.predictions import PredictionsAdapter
    adapters = {}
    for name, path in predictions.items():
        adapter = PredictionsAdapter(**{**model_settings.get(name, {}), "path": str(path)})
        adapter.index(task)
        adapters[name] = adapter
    return adapters


def resolve_metrics(task: Task, names: list[str] | None, metric_settings: dict[str, dict[str, Any]]) -> list[str]:
    """The metrics of the run: the named ones, each checked to score an output of the task; by default all that do."""
    chosen = names if names is not None else [n for n in metric_names() if applies_to(get_metric_class(n), task)]
    unknown = set(metric_settings) - set(chosen)
    if unknown:
        raise RunError(f"settings given for metric(s) not in the run: {sorted(unknown)}")
    for name, settings in metric_settings.items():
        check_settings("metric", get_metric_class(name), settings)
    if names is None:
        return chosen
    for name in names:
        cls = get_metric_class(name)
        if cls.tasks and task.name not in cls.tasks:
            raise RunError(f"metric {name!r} applies only to the tasks {', '.join(cls.tasks)}, not {task}")
        if not applies_to(cls, task):
            raise RunError(f"metric {name!r} ({cls.kind}) scores no output of task {task}; choose metrics for its "
                           f"outputs {[m.value for m in task.outputs]}")
    return names


def eligible(dataset: Dataset, task: Task, split: str) -> tuple[np.ndarray, dict[str, int]]:
    """Studies of the split that have every modality the task reads or scores; the others are counted per modality."""
    indices = dataset.indices(split)
    keep = np.ones(len(indices), dtype=bool)
    missing = {}
    for modality in task.modalities:
        present = dataset.available(modality)[indices]
        missing[modality.value] = int((~present).sum())
        keep &= present
    return indices[keep], missing
