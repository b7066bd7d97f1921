"""Conformance check: does an adapter keep the adapter contract on real studies?

`check_adapter` runs the adapter on a few studies for every task it declares and checks what the runner relies on:
one output dict per study with exactly the task's output modalities, images 256x256 float32 in [0, 1], non-empty
reports, inputs left untouched, identical outputs when called twice with the same seeds, and (as a warning) the
same output for a study whether it is generated alone or inside a batch, since the generation cache is keyed per
study and seed. `xgem-bench adapter check NAME` is a thin layer over it.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from xgem_bench.adapters.base import Adapter, AdapterContext, StudyFailure
from xgem_bench.data.dataset import Dataset
from xgem_bench.data.study import IMAGE_SIZE, Study
from xgem_bench.tasks import Modality, Task, parse_task

ERROR, WARNING = "error", "warning"


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""
    task: str | None = None
    severity: str = ERROR


@dataclass
class ConformanceReport:
    adapter: str
    checks: list[Check] = field(default_factory=list)
    #: seconds per study, per task (second call, so model loading is excluded)
    seconds_per_study: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks if c.severity == ERROR)

    def failures(self, severity: str = ERROR) -> list[Check]:
        return [c for c in self.checks if not c.passed and c.severity == severity]

    def add(self, name: str, passed: bool, detail: str = "", task: Task | None = None, severity: str = ERROR) -> bool:
        self.checks.append(Check(name, bool(passed), detail, task.name if task else None, severity))
        return bool(passed)

    def to_dict(self) -> dict[str, Any]:
        return {"adapter": self.adapter, "ok": self.ok, "checks": [asdict(c) for c in self.checks],
                "seconds_per_study": self.seconds_per_study}

    def render(self) -> str:
        lines = [f"conformance of adapter {self.adapter!r}: {'PASS' if self.ok else 'FAIL'}"]
        for c in self.checks:
            mark = "ok  " if c.passed else ("FAIL" if c.severity == ERROR else "warn")
            where = f"[{c.task}] " if c.task else ""
            lines.append(f"  {mark} {where}{c.name}" + (f": {c.detail}" if c.detail else ""))
        for task, seconds in self.seconds_per_study.items():
            lines.append(f"  time [{task}] {seconds:.3g} s/study")
        return "\n".join(lines)


def check_adapter(adapter: Adapter, dataset: Dataset | str = "demo", tasks: Sequence[str | Task] | None = None,
                  n_studies: int = 3, seed: int = 0, device: str = "cpu", atol: float = 1e-5) -> ConformanceReport:
    """Run `adapter` on `n_studies` studies of `dataset` for each task (default: all it declares) and report."""
    from xgem_bench.data import load_dataset

    report = ConformanceReport(getattr(adapter, "name", type(adapter).__name__))
    if not _check_declaration(adapter, report):
        return report
    reason = adapter.unavailable_reason()
    if not report.add("available", reason is None, reason or ""):
        return report
    dataset = load_dataset(dataset)
    chosen = [parse_task(t) for t in tasks] if tasks else list(adapter.supported_tasks())
    for task in chosen:
        if not adapter.supports(task):
            report.add("declared", False, f"the adapter does not declare task {task}", task)
    chosen = [t for t in chosen if adapter.supports(t)]
    try:
        adapter.setup(AdapterContext(device=device, dataset=dataset))
    except Exception as error:  # noqa: BLE001 - the report names whatever went wrong
        report.add("setup", False, f"{type(error).__name__}: {error}")
        return report
    report.add("setup", True)
    for task in chosen:
        _check_task(adapter, dataset, task, n_studies, seed, atol, report)
    return report


def _check_declaration(adapter: Adapter, report: ConformanceReport) -> bool:
    from xgem_bench import weights

    problems = []
    if not isinstance(getattr(adapter, "name", None), str) or not adapter.name:
        problems.append("class attribute `name` must be a non-empty string")
    if not isinstance(getattr(adapter, "version", None), str) or not adapter.version:
        problems.append("class attribute `version` must be a non-empty string (it enters the cache key)")
    try:
        if not adapter.supported_tasks():
            problems.append("`tasks` is empty")
    except Exception as error:  # noqa: BLE001
        problems.append(f"`tasks` does not parse: {error}")
    unknown = [w for w in getattr(adapter, "weights", ()) if w not in weights.catalog()]
    if unknown:
        problems.append(f"weights {unknown} are not in the weights catalog (add a WeightSpec)")
    try:
        json.dumps(adapter.recorded_settings(), sort_keys=True)
    except (TypeError, ValueError) as error:
        problems.append(f"settings() must be JSON-serialisable (it enters the cache key and results): {error}")
    return report.add("declaration", not problems, "; ".join(problems))


def _pick_studies(dataset: Dataset, task: Task, n: int) -> list[Study]:
    """Studies that have every modality of the task (inputs, and outputs for adapters that look them up)."""
    mask = np.ones(len(dataset), dtype=bool)
    for modality in task.modalities:
        mask &= dataset.available(modality)
    if mask.sum() < n:  # fall back to studies that have the inputs at least
        mask = np.ones(len(dataset), dtype=bool)
        for modality in task.inputs:
            mask &= dataset.available(modality)
    return [dataset.load(int(i)) for i in np.flatnonzero(mask)[:n]]


def _digest(studies: Sequence[Study]) -> str:
    h = hashlib.sha256()
    for s in studies:
        h.update(f"{s.study_id}|{s.report}".encode())
        for image in (s.frontal, s.lateral):
            h.update(b"-" if image is None else np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


def _check_task(adapter: Adapter, dataset: Dataset, task: Task, n: int, seed: int, atol: float,
                report: ConformanceReport) -> None:
    studies = [s.only(task.inputs) for s in _pick_studies(dataset, task, n)]
    if not report.add("studies", bool(studies), f"{len(studies)} studies with inputs "
                      f"{'+'.join(m.value for m in task.inputs)} in dataset {dataset.name!r}", task):
        return
    seeds = [seed + i for i in range(len(studies))]
    before = _digest(studies)
    first = _generate(adapter, studies, task, seeds, report)
    if first is None:
        return
    untouched = _digest(studies) == before
    report.add("inputs untouched", untouched, "" if untouched else "generate() modified the input studies in place",
               task)
    problems = [p for out in first for p in _output_problems(out, task)]
    if not report.add("outputs", not problems, "; ".join(dict.fromkeys(problems)) or
                      f"{len(first)} studies, outputs {'+'.join(m.value for m in task.outputs)}", task):
        return
    t0 = time.perf_counter()
    second = _generate(adapter, studies, task, seeds, report)
    report.seconds_per_study[task.name] = (time.perf_counter() - t0) / len(studies)
    if second is None:
        return
    diffs = [_difference(a, b) for a, b in zip(first, second)]
    report.add("deterministic", max(diffs) <= atol,
               f"same seeds, max difference {max(diffs):.3g} (tolerance {atol:g})", task)
    alone = _generate(adapter, studies[-1:], task, seeds[-1:], report)
    if alone is not None:
        diff = _difference(first[-1], alone[0])
        passed = diff <= max(atol, 1e-4)
        report.add("batch-independent", passed, f"a study alone vs inside its batch: max difference {diff:.3g}" +
                   ("" if passed else "; the generation cache assumes outputs depend only on (study, seed)"),
                   task, severity=WARNING)


def _generate(adapter: Adapter, studies: list[Study], task: Task, seeds: list[int], report: ConformanceReport):
    try:
        outputs = adapter.generate(studies, task, seeds)
    except Exception as error:  # noqa: BLE001
        report.add("generate", False, f"{type(error).__name__}: {error}", task)
        return None
    if not isinstance(outputs, list) or len(outputs) != len(studies):
        report.add("generate", False, f"expected a list of {len(studies)} outputs, got {type(outputs).__name__} "
                   f"of length {len(outputs) if hasattr(outputs, '__len__') else '?'}", task)
        return None
    return outputs


def _output_problems(output: Any, task: Task) -> list[str]:
    if isinstance(output, StudyFailure):
        return [f"study failed: {output}"]
    if not isinstance(output, dict) or set(output) != set(task.outputs):
        keys = sorted(getattr(k, "value", str(k)) for k in output) if isinstance(output, dict) else type(output)
        return [f"expected a dict with keys {[m.value for m in task.outputs]} (Modality members), got {keys}"]
    problems = []
    for modality, value in output.items():
        if modality.is_image:
            problems += _image_problems(value, modality)
        elif not isinstance(value, str) or not value.strip():
            problems.append(f"{modality.value}: expected a non-empty str, got {value!r:.60}")
    return problems


def _image_problems(value: Any, modality: Modality) -> list[str]:
    if not isinstance(value, np.ndarray):
        return [f"{modality.value}: expected a numpy array, got {type(value).__name__}"]
    problems = []
    if value.shape != (IMAGE_SIZE, IMAGE_SIZE):
        problems.append(f"{modality.value}: shape {value.shape}, expected ({IMAGE_SIZE}, {IMAGE_SIZE})")
    if value.dtype != np.float32:
        problems.append(f"{modality.value}: dtype {value.dtype}, expected float32")
    if not np.isfinite(value).all():
        problems.append(f"{modality.value}: contains NaN or infinite values")
    elif value.size and (value.min() < 0 or value.max() > 1):
        problems.append(f"{modality.value}: values in [{value.min():.4g}, {value.max():.4g}], expected [0, 1]")
    return problems


def _difference(a: Any, b: Any) -> float:
    """Largest absolute pixel difference over the outputs; text that differs counts as infinitely different."""
    if isinstance(a, StudyFailure) or isinstance(b, StudyFailure) or not isinstance(a, dict) or set(a) != set(b):
        return float("inf")
    worst = 0.0
    for modality, value in a.items():
        if modality.is_image:
            worst = max(worst, float(np.max(np.abs(np.asarray(value, np.float64) - np.asarray(b[modality])))))
        elif value != b[modality]:
            worst = float("inf")
    return worst
