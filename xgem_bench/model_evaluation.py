"""One model's evaluation within a run: set up its adapter, generate (through the generation cache) and score its
shard batch by batch, then, on rank 0 after the gather, compute each metric into the model's results entry.

`runner` below is the `xgem_bench.runner.Runner` of the run (its resolved arguments, dataset, device and feature
service); these functions read it and never change it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xgem_bench import weights
from xgem_bench.adapters import AdapterContext, get_adapter_class
from xgem_bench.cache import GenerationCache, SiblingOutputs, study_seed
from xgem_bench.distributed import ProcessGroup
from xgem_bench.generation import cached_outputs, generate
from xgem_bench.metrics import Metric, MetricContext, applies_to, get_metric_class
from xgem_bench.metrics.base import ReferenceSet, Sample
from xgem_bench.metrics.demo_backbone import DEMO_BACKBONE_LABEL, WEIGHT_NAME, DemoBackbone
from xgem_bench.progress import progress_bar, silence_third_party_bars
from xgem_bench.scoring import compute_metric, describe_error, update_metrics


@dataclass
class ModelRun:
    """Everything one model's evaluation accumulates on one rank."""

    name: str
    entry: dict[str, Any]
    metrics: dict[str, Metric] = field(default_factory=dict)
    generation_rows: list[tuple] = field(default_factory=list)
    #: the adapter's own counters (Adapter.diagnostics), summed over ranks
    diagnostics: dict[str, Any] = field(default_factory=dict)
    #: metric key -> (status "failed" or "skipped", reason), for metrics stopped while scoring
    failed_metrics: dict[str, tuple[str, str]] = field(default_factory=dict)


def evaluate_model(runner, name: str, shard: np.ndarray, run_dir: Path, dist: ProcessGroup) -> ModelRun:
    """Generate and score `shard` (positions in the dataset) with model `name`; a model that cannot run is skipped
    or failed in its entry, with the reason, and the other models' work stands."""
    task = runner.task
    cls = type(runner.adapters[name]) if name in runner.adapters else get_adapter_class(name)
    entry: dict[str, Any] = {"status": "ok", "reason": None, "adapter": cls.name, "version": cls.version,
                             "metrics": {}}
    model_run = ModelRun(name, entry)
    if not cls.supports(task):
        tasks = ", ".join(t.name for t in cls.supported_tasks())
        entry.update(status="skipped", reason=f"does not support task {task} (supports {tasks})")
        return model_run
    adapter = runner.adapters[name] if name in runner.adapters else cls(**runner.model_settings.get(name, {}))
    reason = adapter.unavailable_reason()
    if reason:
        entry.update(status="skipped", reason=reason)
        return model_run
    entry.update(settings=adapter.recorded_settings(), checkpoint_id=adapter.checkpoint_id(),
                 weights={w: weights.checksum(w) for w in cls.weights})
    key = {"adapter": name, "version": cls.version, "checkpoint": entry["checkpoint_id"], "task": task.name,
           "settings": entry["settings"], "dataset": runner.dataset_fingerprint}
    cache = GenerationCache(runner.cache_dir, name, key)
    entry["cache_key"], entry["cache_folder"] = cache.key, str(cache.folder)
    siblings = SiblingOutputs(runner.cache_dir, name, key, runner.seed, _run_command(runner, name))
    model_run.metrics = make_metrics(runner, entry, run_dir / "artifacts" / name, siblings)

    timings = {"generation_s": 0.0, "scoring_s": 0.0}
    set_up = False
    bar = progress_bar(len(shard), f"{name} {task}", unit="study", enabled=runner.progress and dist.rank == 0)
    for start in range(0, len(shard), runner.batch_size):
        studies = []
        for i in shard[start: start + runner.batch_size]:
            try:
                studies.append(runner.dataset.load(int(i), task.modalities))
            except (OSError, ValueError) as error:  # unreadable input: recorded, the run goes on
                model_run.generation_rows.append((name, runner.dataset.study_ids[int(i)], "", "unreadable",
                                                  str(error)))
        seeds = [study_seed(runner.seed, s.study_id) for s in studies]
        t0 = time.time()
        outputs = {s.study_id: None if runner.force else cached_outputs(cache, task, s.study_id, seed)
                   for s, seed in zip(studies, seeds)}
        todo = [(s, seed) for s, seed in zip(studies, seeds) if outputs[s.study_id] is None]
        if todo and not set_up:
            try:
                adapter.setup(AdapterContext(device=runner.device, dataset=runner.dataset, cache_dir=runner.cache_dir))
            except Exception as error:  # noqa: BLE001 - this model failed; the other models' work stands
                entry.update(status="failed", reason=f"setup failed: {describe_error(error)}")
                for metric_key in model_run.metrics:
                    entry["metrics"][metric_key].update(status="skipped", reason=f"model {name} failed to set up")
                model_run.metrics = {}
                model_run.generation_rows = [r for r in model_run.generation_rows if r[3] == "unreadable"]
                bar.close()
                return model_run
            set_up = True
            if not runner.progress:
                silence_third_party_bars()  # libraries the adapter imported in setup()
        errors = generate(adapter, task, todo, outputs, cache)
        timings["generation_s"] += time.time() - t0
        for s, seed in zip(studies, seeds):
            error = errors.get(s.study_id)
            model_run.generation_rows.append((name, s.study_id, seed, "failed" if error else "ok", error or ""))
        t0 = time.time()
        update_metrics(model_run.metrics, [Sample(s, outputs[s.study_id]) for s in studies
                                           if s.study_id not in errors], model_run.failed_metrics)
        runner.features.forget()  # the batch's features were shared by its metrics; the next batch is new
        timings["scoring_s"] += time.time() - t0
        bar.update(len(studies))
    bar.close()
    adapter.close()
    entry["timings"] = {k: round(v, 3) for k, v in timings.items()}
    model_run.diagnostics = adapter.diagnostics()
    return model_run


def _run_command(runner, model: str) -> str:
    """The `xgem-bench run` line that generates another task (`{task}`) for the same studies with this model."""
    limit = f" --limit {runner.limit}" if runner.limit is not None else ""
    settings = " (with the same --setting values)" if runner.model_settings.get(model) else ""
    return (f"xgem-bench run --task '{{task}}' --model {model} --dataset {runner.dataset_spec} --split "
            f"{runner.split}{limit} --seed {runner.seed}{settings}")


def make_metrics(runner, entry: dict, artifact_dir: Path, siblings: SiblingOutputs | None = None
                 ) -> dict[str, Metric]:
    """One instance per chosen metric and scored modality, its record (settings, signature, weights) in `entry`; a
    metric that cannot run here is recorded as skipped with the reason."""
    made = {}
    for name in runner.metric_names:
        cls = get_metric_class(name)
        settings = runner.resolved_metric_settings[name]
        for modality in applies_to(cls, runner.task):
            key = f"{name}/{modality.value if modality else 'joint'}"
            record = {"metric": name, "modality": modality.value if modality else "joint", "status": "ok",
                      "reason": None, "primary": cls.primary, "higher_is_better": cls.higher_is_better}
            entry["metrics"][key] = record
            reason = cls.unavailable_reason({**cls.default_settings(), **settings})
            if reason:
                record.update(status="skipped", reason=reason)
                continue
            context = MetricContext(task=runner.task, modality=modality, dataset=runner.dataset, split=runner.split,
                                    cache_dir=runner.cache_dir, artifact_dir=artifact_dir, device=runner.device,
                                    batch_size=runner.batch_size, features=runner.features, siblings=siblings)
            metric = cls(context, **settings)
            record.update(settings=metric.settings, signature=metric.signature,
                          weights={w: weights.checksum(w) for w in cls.weights})
            if isinstance(getattr(metric, "backbone", None), DemoBackbone):  # said wherever its values go
                record.update(backbone=DEMO_BACKBONE_LABEL, weights={WEIGHT_NAME: weights.checksum(WEIGHT_NAME)})
            made[key] = metric
    return made


def finish_model(model_run: ModelRun, generation_rows: list[tuple], failed_metrics: dict[str, tuple[str, str]],
                 per_sample: list[tuple], reference: ReferenceSet) -> None:
    """Rank 0, after the gather: counts and failures into the entry, each metric computed (its reference prepared
    first) and its per-study values appended to `per_sample`."""
    entry = model_run.entry
    failures = [{"study_id": r[1], "error": r[4]} for r in generation_rows if r[3] == "failed"]
    entry["n_generated"] = sum(r[3] == "ok" for r in generation_rows)
    entry["n_failed"] = len(failures)
    entry["failures"] = failures
    if entry["status"] == "ok" and generation_rows and not entry["n_generated"]:
        entry.update(status="failed", reason=f"all {len(failures)} studies failed; first error: "
                                             f"{failures[0]['error']}")
    for key, metric in model_run.metrics.items():
        record = entry["metrics"][key]
        if key in failed_metrics:
            status, reason = failed_metrics[key]
            record.update(status=status, reason=reason)
            continue
        if not compute_metric(metric, record, reference):
            continue
        for study_id, values in metric.per_sample().items():
            per_sample.extend((model_run.name, study_id, record["metric"], record["modality"], k, v)
                              for k, v in values.items())
