"""`independent`: a joint task answered by separate single-output calls of another model, with the same inputs and
the same per-study seeds: the paper's "independent generation" baseline of Table 7 and Figure 5 (e.g. L->F+T as
L->F plus L->T).

Run it beside the model itself on a joint task (`--model xgem --model independent`, option `independent.base=xgem`):
the joint metrics (coherence-cosine, hamming) then compare joint with independent generation on the same studies.
Each output is exactly what `base` generates for the single-output task with that seed, so these outputs equal the
ones of the single-output runs of `base` (for a model that is deterministic given its seed).
"""
from __future__ import annotations

from typing import Any, Sequence

from xgem_bench.adapters.base import Adapter, AdapterContext, StudyFailure
from xgem_bench.settings import deprecated
from xgem_bench.tasks import JOINT_TASKS, Task


class IndependentAdapter(Adapter):
    name = "independent"
    description = "joint outputs generated one at a time by `base` (same inputs, same seeds): independent generation"
    tasks = tuple(t.name for t in JOINT_TASKS)

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        return {"base": "xgem", "base_settings": {}}

    @classmethod
    def supports(cls, task: Task) -> bool:
        return task.is_joint  # whether `base` has each single-output task is checked when generating

    def __init__(self, **settings: Any):
        if "base_options" in settings:  # the old spelling
            deprecated("independent.base_options", "independent.base_settings")
            settings["base_settings"] = settings.pop("base_options")
        super().__init__(**settings)
        from xgem_bench.adapters import get_adapter_class
        if self.settings["base"] == self.name:
            raise ValueError("independent: `base` must name another model")
        self.base = get_adapter_class(self.settings["base"])(**dict(self.settings["base_settings"] or {}))

    def unavailable_reason(self) -> str | None:
        reason = self.base.unavailable_reason()
        return f"base model {self.base.name}: {reason}" if reason else None

    def recorded_settings(self) -> dict[str, Any]:
        return {"base": self.base.name, "base_version": self.base.version,
                "base_settings": self.base.recorded_settings()}

    def checkpoint_id(self) -> str:
        return self.base.checkpoint_id()

    def setup(self, context: AdapterContext) -> None:
        self.base.setup(context)

    def generate(self, studies, task: Task, seeds: Sequence[int]):
        parts = [Task(task.inputs, (output,)) for output in task.outputs]
        unsupported = [str(p) for p in parts if not self.base.supports(p)]
        if unsupported:
            raise ValueError(f"independent: base model {self.base.name} does not support {', '.join(unsupported)}")
        merged: list[dict | StudyFailure] = [{} for _ in studies]
        for part in parts:
            for i, out in enumerate(self.base.generate(studies, part, seeds)):
                if isinstance(merged[i], StudyFailure):
                    continue
                merged[i] = out if isinstance(out, StudyFailure) else {**merged[i], part.outputs[0]: out[part.outputs[0]]}
        return merged
