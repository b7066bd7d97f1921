"""The runner: dataset -> adapter.generate (cached per study) -> metrics (update per batch) -> results store.

Under `torchrun` the evaluated studies are sharded by rank; each rank generates and scores its shard, metric states
and generation records are gathered, and rank 0 computes the aggregates and writes the results.

The parts: `run_arguments` checks models, metrics and settings before anything runs; `model_evaluation` generates
and scores one model (through `generation` and the generation cache); this module runs them in order, gathers the
ranks and writes the results.
"""
from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from xgem_bench import once
from xgem_bench import results as store
from xgem_bench import weights
from xgem_bench.atomic import remove_stale_temporaries
from xgem_bench.data import Dataset, load_dataset
from xgem_bench.distributed import ProcessGroup, resolve_device
from xgem_bench.features import FeatureService
from xgem_bench.metrics import get_metric_class
from xgem_bench.metrics.base import ReferenceSet
from xgem_bench.metrics.demo_backbone import xrv_settings_for
from xgem_bench.model_evaluation import evaluate_model, finish_model
from xgem_bench.presets import apply_preset
from xgem_bench.progress import silence_third_party_bars
from xgem_bench.run_arguments import (RunError, eligible, parse_names, prediction_adapters, resolve_metrics,
                                      resolve_models)
from xgem_bench.settings import deprecated
from xgem_bench.strata import DEFAULT_MIN_STUDIES, add_strata
from xgem_bench.tasks import Task, parse_task

__all__ = ["RunError", "RunResult", "Runner", "run"]


@dataclass
class RunResult:
    """What `run` returns.

    - `run_dir`: the folder written (`results.json`, `per_sample.csv`, `generation.csv`, `artifacts/`); None on
      torchrun ranks other than 0, which write nothing.
    - `results`: the content of `results.json`: `task`, `dataset` (name, split, fingerprint, `n_evaluated`,
      `missing_modality`, `n_unreadable`), `seed`, `provenance` (git commit, package versions, device), `timings`,
      and `models`: per model its `status` ("ok", "skipped", "failed") and `reason`, `settings`, `checkpoint_id`,
      `cache_key`, `n_generated`, `n_failed`, `failures`, and `metrics`: per "metric/modality" key its `status`,
      `values` (the numbers; `primary` names the headline one), `settings`, `signature` and `higher_is_better`.
    """

    run_dir: Path | None
    results: dict[str, Any]

    def table(self) -> str:
        """One row per model: status, counts and each metric's primary value (what `xgem-bench run` prints)."""
        return store.format_table(store.summary_rows(self.results))


class Runner:
    def __init__(self, task: str | Task, models: Sequence[str] | str | None = None,
                 dataset: str | Dataset = "demo", metrics: Sequence[str] | str | None = None, split: str = "test",
                 limit: int | None = None, seed: int = 0, out: str | Path = "results", force: bool = False,
                 batch_size: int = 8, model_settings: dict[str, dict[str, Any]] | None = None,
                 metric_settings: dict[str, dict[str, Any]] | None = None, device: str | None = None,
                 cache_dir: str | Path | None = None, run_id: str | None = None, progress: bool = True,
                 predictions: Mapping[str, str | Path] | None = None, allow_demo_backbone: bool = False,
                 model_options: dict[str, dict[str, Any]] | None = None,
                 metric_options: dict[str, dict[str, Any]] | None = None, preset: str | None = None,
                 strata_min_studies: int = DEFAULT_MIN_STUDIES):
        self.task = parse_task(task)
        self.split, self.limit, self.seed, self.force = split, limit, seed, force
        if batch_size < 1:
            raise RunError("batch size must be at least 1")
        if limit is not None and limit < 1:
            raise RunError("--limit must be at least 1")
        self.batch_size, self.progress = batch_size, progress
        self.allow_demo_backbone = allow_demo_backbone  # variant=demo on data other than the demo
        if strata_min_studies < 1:
            raise RunError("--strata-min-studies must be at least 1")
        self.strata_min_studies = strata_min_studies
        self.out = Path(out)
        self.cache_dir = Path(cache_dir) if cache_dir else weights.cache_root()
        for old, new, given in (("model_options", "model_settings", model_options),
                                ("metric_options", "metric_settings", metric_options)):
            if given is not None:  # the old spellings
                deprecated(f"Runner({old}=...)", f"Runner({new}=...)")
        self.model_settings = model_settings or model_options or {}
        self.metric_settings = metric_settings or metric_options or {}
        self.preset = preset  # named metric conventions (xgem_bench.presets) under `metrics` / `metric_settings`
        metrics, self.metric_settings = apply_preset(preset, parse_names(metrics), self.metric_settings)
        self.predictions = {name: Path(path) for name, path in (predictions or {}).items()}
        self.model_names = resolve_models(self.task, parse_names(models), self.predictions, self.model_settings)
        #: the predictions adapters, their files indexed (other models' adapters are made per model in the run)
        self.adapters = prediction_adapters(self.task, self.predictions, self.model_settings)
        self.metric_names = resolve_metrics(self.task, parse_names(metrics), self.metric_settings)
        # the dataset last: cheap argument errors should not wait for a dataset to be read or built
        self.dataset_spec = dataset if isinstance(dataset, str) else getattr(dataset, "name", "custom")
        self.dataset = load_dataset(dataset)
        self.dataset_fingerprint = self.dataset.fingerprint()
        #: per metric, its settings with the backbone variant chosen for this dataset
        self.resolved_metric_settings = {
            name: xrv_settings_for(self.dataset, get_metric_class(name), self.metric_settings.get(name, {}),
                                   allow_demo_backbone) for name in self.metric_names}
        self.device = resolve_device(device)
        self.run_id = run_id
        self.features: FeatureService | None = None  # the run's feature service, made when the run starts

    # ---- the run ------------------------------------------------------------------------------------------------
    def run(self) -> RunResult:
        once.reset()  # each warning once per run
        if not self.progress:
            silence_third_party_bars()
        dist = ProcessGroup.join()
        try:
            return self._run(dist)
        finally:
            dist.close()

    def _run(self, dist: ProcessGroup) -> RunResult:
        started = time.time()
        evaluated, missing = eligible(self.dataset, self.task, self.split)
        n_split = len(self.dataset.indices(self.split))
        if self.limit is not None:
            evaluated = evaluated[: self.limit]
        if len(evaluated) == 0:
            raise RunError(f"no study of split {self.split!r} of {self.dataset.name!r} has all of "
                           f"{[m.value for m in self.task.modalities]} (missing per modality: {missing})")
        run_id = dist.broadcast(self.run_id or self._new_run_id())
        run_dir = self.out / run_id
        if dist.rank == 0:
            self._prepare_out(run_dir)
        shard = evaluated[dist.rank:: dist.world_size]
        self.features = FeatureService(self.batch_size, self.cache_dir / "features")  # kept between runs

        model_runs = [evaluate_model(self, name, shard, run_dir, dist) for name in self.model_names]

        gathered = dist.gather([(m.generation_rows, {k: v.state_dict() for k, v in m.metrics.items()},
                                 m.failed_metrics, m.diagnostics) for m in model_runs])
        counts = dist.gather((dict(self.features.passes), dict(self.features.loaded)))  # rank 0: below
        results = {
            "schema": store.SCHEMA_VERSION,
            "run_id": run_id,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "task": self.task.name,
            "dataset": {"name": self.dataset.name, "spec": self.dataset_spec, "synthetic": self.dataset.synthetic,
                        "fingerprint": self.dataset_fingerprint, "split": self.split, "n_split": n_split,
                        "n_evaluated": int(len(evaluated)), "missing_modality": missing, "limit": self.limit},
            "seed": self.seed,
            **({"preset": self.preset} if self.preset else {}),
            "seeds": "per study: first 4 bytes of sha256('<seed>:<study_id>'), see xgem_bench.cache.study_seed",
            "provenance": store.provenance(self.device, dist.world_size),
            "models": {},
        }
        if dist.rank != 0:
            return RunResult(None, results)

        per_sample, generation = [], []
        unreadable = {row[1] for rank in gathered for runs in rank for row in runs[0] if row[3] == "unreadable"}
        # reference statistics (FID) are prepared over the readable evaluated studies only
        position = {sid: i for i, sid in enumerate(self.dataset.study_ids)}
        reference = ReferenceSet(self.dataset, np.setdiff1d(evaluated, [position[sid] for sid in unreadable])
                                 if unreadable else evaluated, self.task.modalities)
        results["dataset"]["n_unreadable"] = len(unreadable)
        for i, model_run in enumerate(model_runs):
            rows = [row for rank in gathered for row in rank[i][0]]
            generation += rows
            failed_metrics = {k: v for rank in gathered for k, v in rank[i][2].items()}
            diagnostics = [rank[i][3] for rank in gathered]
            if any(diagnostics):
                keys = sorted({k for d in diagnostics for k in d})
                model_run.entry["diagnostics"] = {k: sum(d.get(k, 0) for d in diagnostics) for k in keys}
            for key, metric in model_run.metrics.items():
                for rank in gathered[1:]:
                    metric.merge_state(rank[i][1][key])
            finish_model(model_run, rows, failed_metrics, per_sample, reference)
            results["models"][model_run.name] = model_run.entry
        # images each backbone ran on, and those read from the feature cache instead (per signature, all ranks;
        # rank 0's own counts now include the reference set prepared above)
        counts = [(dict(self.features.passes), dict(self.features.loaded)), *counts[1:]]
        results["timings"] = {"total_s": round(time.time() - started, 3),
                              "backbone_images": _summed([c[0] for c in counts]),
                              "backbone_images_cached": _summed([c[1] for c in counts])}
        store.write_run(run_dir, results, per_sample, generation)
        add_strata(run_dir, results, self.dataset, evaluated, self.strata_min_studies)  # from the files just written
        return RunResult(run_dir, results)

    def _new_run_id(self) -> str:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        slug = self.task.name.replace("->", "_to_").replace("+", "")
        salt = hashlib.sha256(f"{time.time_ns()}{os.getpid()}".encode()).hexdigest()[:4]
        return f"{stamp}-{slug}-{salt}"

    @staticmethod
    def _prepare_out(run_dir: Path) -> None:
        """Create the run folder, or reuse an unfinished one (a killed run resumes under the same --run-id)."""
        if (run_dir / "results.json").exists():
            raise RunError(f"{run_dir} holds a finished run; choose another --run-id or output folder")
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(run_dir)
            probe = run_dir / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as error:
            raise RunError(f"cannot write results to {run_dir}: {error.strerror}; choose a writable --out") from None


def _summed(counters: list[dict[str, int]]) -> dict[str, int]:
    return {k: sum(c.get(k, 0) for c in counters) for k in sorted({k for c in counters for k in c})}


def run(task: str | Task, **kwargs) -> RunResult:
    """Generate with every chosen model on `task` and score with every chosen metric (`xgem-bench run`).

    Keyword arguments as in `Runner`: `models` (names; default every model supporting the task, none when
    `predictions` is given), `predictions` ({name: folder or CSV} of outputs generated elsewhere), `dataset` (a spec
    such as "demo" or "manifest:PATH", or a Dataset), `metrics`, `split`, `limit`, `seed`, `out`, `run_id`,
    `model_settings` / `metric_settings` ({name: {key: value}}), `device`, `batch_size`, `force`, `progress`,
    `preset` (named metric conventions such as "rexrank", `xgem_bench.presets`).
    `strata_min_studies` (stratified results: smaller strata are flagged too small; see `xgem_bench.strata`).
    Returns a `RunResult`; `result.table()` is the summary table, `result.results` everything recorded.
    """
    return Runner(task, **kwargs).run()
