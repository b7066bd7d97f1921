"""Generation with an adapter, through the generation cache: outputs checked against the adapter contract, cached
outputs re-checked before they are trusted, and a failing batch retried study by study."""
from __future__ import annotations

from typing import Any

from xgem_bench.adapters import Adapter
from xgem_bench.adapters.base import StudyFailure
from xgem_bench.cache import GenerationCache
from xgem_bench.data.study import Study, validate_image
from xgem_bench.scoring import describe_error
from xgem_bench.tasks import Modality, Task


def check_outputs(outputs: Any, task: Task) -> dict[Modality, Any]:
    """Validate one study's outputs against the adapter contract; raise ValueError naming what is wrong."""
    if not isinstance(outputs, dict) or set(outputs) != set(task.outputs):
        got = sorted(getattr(m, "value", str(m)) for m in outputs) if isinstance(outputs, dict) else type(outputs)
        raise ValueError(f"adapter must return the outputs {[m.value for m in task.outputs]}, got {got}")
    checked = {}
    for modality, value in outputs.items():
        if modality.is_image:
            checked[modality] = validate_image(value, f"generated {modality.value}")
        else:
            if not isinstance(value, str):
                raise ValueError(f"generated report must be str, got {type(value).__name__}")
            checked[modality] = value
    return checked


def cached_outputs(cache: GenerationCache, task: Task, study_id: str, seed: int) -> dict[Modality, Any] | None:
    """A cached output that passes the checks fresh outputs pass; anything else is deleted (and so regenerated)."""
    outputs = cache.load(study_id, seed)
    if outputs is None:
        return None
    try:
        return check_outputs(outputs, task)
    except ValueError:  # tampered with, or written by a buggy older version: not trusted
        cache.path(study_id, seed).unlink(missing_ok=True)
        return None


def generate(adapter: Adapter, task: Task, todo: list[tuple[Study, int]], outputs: dict, cache: GenerationCache
             ) -> dict[str, str]:
    """Fill `outputs` for `todo` ((study, seed) pairs) and cache them; returns study_id -> error for studies that
    failed. A batch that raises is retried study by study, so one bad study does not take its batch down with it."""
    errors: dict[str, str] = {}
    groups = [todo] if todo else []
    while groups:
        group = groups.pop()
        try:
            produced = adapter.generate([s.only(task.inputs) for s, _ in group], task, [seed for _, seed in group])
            if len(produced) != len(group):
                raise ValueError(f"adapter returned {len(produced)} outputs for {len(group)} studies")
        except Exception as error:  # noqa: BLE001 - any adapter failure is recorded per study
            if len(group) > 1:
                groups += [[item] for item in group]
            else:
                errors[group[0][0].study_id] = describe_error(error)
            continue
        for (study, seed), result in zip(group, produced):
            if isinstance(result, StudyFailure):
                errors[study.study_id] = f"StudyFailure: {result}"
                continue
            try:
                checked = check_outputs(result, task)
            except ValueError as error:
                errors[study.study_id] = f"invalid output: {error}"
                continue
            cache.save(study.study_id, seed, checked)
            outputs[study.study_id] = checked
    return errors
