"""The runner: dataset -> adapter.generate (cached per study) -> metrics (update per batch) -> results store.

Under `torchrun` the evaluated studies are sharded by rank; each rank generates and scores its shard, metric states
and generation records are gathered, and rank 0 computes the aggregates and writes the results.
"""
from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from xgem_bench import once
from xgem_bench import results as store
from xgem_bench import weights
from xgem_bench.adapters import Adapter, AdapterContext, adapter_names, get_adapter_class
from xgem_bench.adapters.base import StudyFailure
from xgem_bench.atomic import remove_stale_temporaries
from xgem_bench.cache import GenerationCache, study_seed
from xgem_bench.data import Dataset, load_dataset
from xgem_bench.data.study import Study, validate_image
from xgem_bench.distributed import ProcessGroup, resolve_device
from xgem_bench.settings import deprecated
from xgem_bench.features import FeatureService
from xgem_bench.metrics import (Metric, MetricContext, applies_to, get_metric_class,
                                metric_names)
from xgem_bench.metrics.base import ReferenceSet, Sample
from xgem_bench.scoring import compute_metric, describe_error, update_metrics
from xgem_bench.progress import progress_bar, silence_third_party_bars
from xgem_bench.metrics.demo_backbone import DEMO_BACKBONE_LABEL, WEIGHT_NAME, DemoBackbone, xrv_settings_for
from xgem_bench.tasks import Modality, Task, parse_task


class RunError(RuntimeError):
    """The run cannot start (bad arguments, no eligible studies, unwritable output)."""


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


def _parse_names(names: Sequence[str] | str | None) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str):
        names = [names]
    flat = [n.strip() for item in names for n in item.split(",") if n.strip()]
    return flat or None


def _eligible(dataset: Dataset, task: Task, split: str) -> tuple[np.ndarray, dict[str, int]]:
    """Studies of the split that have every modality the task reads or scores; the others are counted per modality."""
    indices = dataset.indices(split)
    keep = np.ones(len(indices), dtype=bool)
    missing = {}
    for modality in task.modalities:
        present = dataset.available(modality)[indices]
        missing[modality.value] = int((~present).sum())
        keep &= present
    return indices[keep], missing


def _check_outputs(outputs: Any, task: Task) -> dict[Modality, Any]:
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


@dataclass
class _ModelRun:
    """Everything one model's evaluation accumulates on one rank."""

    name: str
    entry: dict[str, Any]
    metrics: dict[str, Metric] = field(default_factory=dict)
    generation_rows: list[tuple] = field(default_factory=list)
    #: the adapter's own counters (Adapter.diagnostics), summed over ranks
    diagnostics: dict[str, Any] = field(default_factory=dict)
    #: metric key -> (status "failed" or "skipped", reason), for metrics stopped while scoring
    failed_metrics: dict[str, tuple[str, str]] = field(default_factory=dict)


class Runner:
    def __init__(self, task: str | Task, models: Sequence[str] | str | None = None,
                 dataset: str | Dataset = "demo", metrics: Sequence[str] | str | None = None, split: str = "test",
                 limit: int | None = None, seed: int = 0, out: str | Path = "results", force: bool = False,
                 batch_size: int = 8, model_settings: dict[str, dict[str, Any]] | None = None,
                 metric_settings: dict[str, dict[str, Any]] | None = None, device: str | None = None,
                 cache_dir: str | Path | None = None, run_id: str | None = None, progress: bool = True,
                 predictions: Mapping[str, str | Path] | None = None, allow_demo_backbone: bool = False,
                 model_options: dict[str, dict[str, Any]] | None = None,
                 metric_options: dict[str, dict[str, Any]] | None = None):
        self.task = parse_task(task)
        self.split, self.limit, self.seed, self.force = split, limit, seed, force
        if batch_size < 1:
            raise RunError("batch size must be at least 1")
        if limit is not None and limit < 1:
            raise RunError("--limit must be at least 1")
        self.batch_size, self.progress = batch_size, progress
        self.allow_demo_backbone = allow_demo_backbone  # variant=demo on data other than the demo
        self.out = Path(out)
        self.cache_dir = Path(cache_dir) if cache_dir else weights.cache_root()
        for old, new, given in (("model_options", "model_settings", model_options),
                                ("metric_options", "metric_settings", metric_options)):
            if given is not None:  # the old spellings
                deprecated(f"Runner({old}=...)", f"Runner({new}=...)")
        self.model_settings = model_settings or model_options or {}
        self.metric_settings = metric_settings or metric_options or {}
        self.predictions = {name: Path(path) for name, path in (predictions or {}).items()}
        self.model_names = self._resolve_models(_parse_names(models))
        self._adapters = self._prediction_adapters()
        self.metric_names = self._resolve_metrics(_parse_names(metrics))
        # the dataset last: cheap argument errors should not wait for a dataset to be read or built
        self.dataset_spec = dataset if isinstance(dataset, str) else getattr(dataset, "name", "custom")
        self.dataset = load_dataset(dataset)
        self.dataset_fingerprint = self.dataset.fingerprint()
        self._metric_settings = {name: xrv_settings_for(self.dataset, get_metric_class(name),
                                                        self.metric_settings.get(name, {}), allow_demo_backbone)
                                 for name in self.metric_names}
        self.device = resolve_device(device)
        self.run_id = run_id

    # ---- argument resolution -----------------------------------------------------------------------------------
    def _resolve_models(self, names: list[str] | None) -> list[str]:
        clash = sorted(set(self.predictions) & set(adapter_names()))
        if clash:
            raise RunError(f"predictions named {clash} clash with model names; call them e.g. 'mine-{clash[0]}'")
        if names is None and not self.predictions:  # every model that claims the task; unavailable ones: skipped
            return [n for n in adapter_names() if get_adapter_class(n).supports(self.task)]
        for name in names or []:
            get_adapter_class(name)  # raises with the closest valid names
        names = [*(names or []), *self.predictions]
        unknown = set(self.model_settings) - set(names)
        if unknown:
            raise RunError(f"settings given for model(s) not in the run: {sorted(unknown)}")
        for name, settings in self.model_settings.items():  # before any folder is made, not halfway through
            if name not in self.predictions:  # a predictions adapter checks its settings when it indexes its files
                _check_settings("model", get_adapter_class(name), settings)
        return names

    def _prediction_adapters(self) -> dict[str, Adapter]:
        """One predictions adapter per --predictions NAME=PATH, its files indexed now: a wrong layout or column
        name is an error before any run folder exists."""
        from xgem_bench.adapters.predictions import PredictionsAdapter
        adapters = {}
        for name, path in self.predictions.items():
            adapter = PredictionsAdapter(**{**self.model_settings.get(name, {}), "path": str(path)})
            adapter.index(self.task)
            adapters[name] = adapter
        return adapters

    def _resolve_metrics(self, names: list[str] | None) -> list[str]:
        chosen = names if names is not None else [n for n in metric_names()
                                                  if applies_to(get_metric_class(n), self.task)]
        unknown = set(self.metric_settings) - set(chosen)
        if unknown:
            raise RunError(f"settings given for metric(s) not in the run: {sorted(unknown)}")
        for name, settings in self.metric_settings.items():
            _check_settings("metric", get_metric_class(name), settings)
        if names is None:
            return chosen
        for name in names:
            if not applies_to(get_metric_class(name), self.task):
                raise RunError(f"metric {name!r} ({get_metric_class(name).kind}) scores no output of task "
                               f"{self.task}; choose metrics for its outputs {[m.value for m in self.task.outputs]}")
        return names

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
        eligible, missing = _eligible(self.dataset, self.task, self.split)
        n_split = len(self.dataset.indices(self.split))
        if self.limit is not None:
            eligible = eligible[: self.limit]
        if len(eligible) == 0:
            raise RunError(f"no study of split {self.split!r} of {self.dataset.name!r} has all of "
                           f"{[m.value for m in self.task.modalities]} (missing per modality: {missing})")
        run_id = dist.broadcast(self.run_id or self._new_run_id())
        run_dir = self.out / run_id
        if dist.rank == 0:
            self._prepare_out(run_dir)
        shard = eligible[dist.rank:: dist.world_size]
        self._features = FeatureService(self.batch_size)

        model_runs = [self._evaluate_model(name, shard, eligible, run_dir, dist) for name in self.model_names]

        gathered = dist.gather([(m.generation_rows, {k: v.state_dict() for k, v in m.metrics.items()},
                                 m.failed_metrics, m.diagnostics) for m in model_runs])
        passes = dist.gather(dict(self._features.passes))  # rank 0 adds its reference passes below
        results = {
            "schema": store.SCHEMA_VERSION,
            "run_id": run_id,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "task": self.task.name,
            "dataset": {"name": self.dataset.name, "spec": self.dataset_spec, "synthetic": self.dataset.synthetic,
                        "fingerprint": self.dataset_fingerprint, "split": self.split, "n_split": n_split,
                        "n_evaluated": int(len(eligible)), "missing_modality": missing, "limit": self.limit},
            "seed": self.seed,
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
        reference = ReferenceSet(self.dataset, np.setdiff1d(eligible, [position[sid] for sid in unreadable])
                                 if unreadable else eligible, self.task.modalities)
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
            self._finish_model(model_run, rows, failed_metrics, per_sample, reference)
            results["models"][model_run.name] = model_run.entry
        # images each backbone ran on (per signature, all ranks): one pass per output, shared by the metrics
        passes = [dict(self._features.passes), *passes[1:]]
        results["timings"] = {"total_s": round(time.time() - started, 3),
                              "backbone_images": {k: sum(p.get(k, 0) for p in passes) for k in sorted(
                                  {k for p in passes for k in p})}}
        store.write_run(run_dir, results, per_sample, generation)
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

    def _evaluate_model(self, name: str, shard: np.ndarray, eligible: np.ndarray, run_dir: Path,
                        dist: ProcessGroup) -> _ModelRun:
        cls = type(self._adapters[name]) if name in self._adapters else get_adapter_class(name)
        entry: dict[str, Any] = {"status": "ok", "reason": None, "adapter": cls.name, "version": cls.version,
                                 "metrics": {}}
        model_run = _ModelRun(name, entry)
        if not cls.supports(self.task):
            tasks = ", ".join(t.name for t in cls.supported_tasks())
            entry.update(status="skipped", reason=f"does not support task {self.task} (supports {tasks})")
            return model_run
        adapter = self._adapters[name] if name in self._adapters else cls(**self.model_settings.get(name, {}))
        reason = adapter.unavailable_reason()
        if reason:
            entry.update(status="skipped", reason=reason)
            return model_run
        entry.update(settings=adapter.recorded_settings(), checkpoint_id=adapter.checkpoint_id(),
                     weights={w: weights.checksum(w) for w in cls.weights})
        cache = GenerationCache(self.cache_dir, name, {
            "adapter": name, "version": cls.version, "checkpoint": entry["checkpoint_id"], "task": self.task.name,
            "settings": entry["settings"], "dataset": self.dataset_fingerprint})
        entry["cache_key"], entry["cache_folder"] = cache.key, str(cache.folder)
        model_run.metrics = self._make_metrics(entry, run_dir / "artifacts" / name)

        timings = {"generation_s": 0.0, "scoring_s": 0.0}
        set_up = False
        bar = progress_bar(len(shard), f"{name} {self.task}", unit="study",
                           enabled=self.progress and dist.rank == 0)
        for start in range(0, len(shard), self.batch_size):
            studies = []
            for i in shard[start: start + self.batch_size]:
                try:
                    studies.append(self.dataset.load(int(i), self.task.modalities))
                except (OSError, ValueError) as error:  # unreadable input: recorded, the run goes on
                    model_run.generation_rows.append((name, self.dataset.study_ids[int(i)], "", "unreadable",
                                                      str(error)))
            seeds = [study_seed(self.seed, s.study_id) for s in studies]
            t0 = time.time()
            outputs = {s.study_id: None if self.force else self._cached(cache, s.study_id, seed)
                       for s, seed in zip(studies, seeds)}
            todo = [(s, seed) for s, seed in zip(studies, seeds) if outputs[s.study_id] is None]
            if todo and not set_up:
                try:
                    adapter.setup(AdapterContext(device=self.device, dataset=self.dataset, cache_dir=self.cache_dir))
                except Exception as error:  # noqa: BLE001 - this model failed; the other models' work stands
                    entry.update(status="failed", reason=f"setup failed: {describe_error(error)}")
                    for key in model_run.metrics:
                        entry["metrics"][key].update(status="skipped", reason=f"model {name} failed to set up")
                    model_run.metrics = {}
                    model_run.generation_rows = [r for r in model_run.generation_rows if r[3] == "unreadable"]
                    bar.close()
                    return model_run
                set_up = True
                if not self.progress:
                    silence_third_party_bars()  # libraries the adapter imported in setup()
            errors = self._generate(adapter, todo, outputs, cache)
            timings["generation_s"] += time.time() - t0
            for s, seed in zip(studies, seeds):
                error = errors.get(s.study_id)
                model_run.generation_rows.append((name, s.study_id, seed, "failed" if error else "ok", error or ""))
            t0 = time.time()
            self._score(model_run, [(s, outputs[s.study_id]) for s in studies if s.study_id not in errors])
            self._features.forget()  # the batch's features were shared by its metrics; the next batch is new
            timings["scoring_s"] += time.time() - t0
            bar.update(len(studies))
        bar.close()
        adapter.close()
        entry["timings"] = {k: round(v, 3) for k, v in timings.items()}
        model_run.diagnostics = adapter.diagnostics()
        return model_run

    def _cached(self, cache: GenerationCache, study_id: str, seed: int) -> dict[Modality, Any] | None:
        """A cached output that passes the checks fresh outputs pass; anything else is deleted and regenerated."""
        outputs = cache.load(study_id, seed)
        if outputs is None:
            return None
        try:
            return _check_outputs(outputs, self.task)
        except ValueError:  # tampered with, or written by a buggy older version: not trusted
            cache.path(study_id, seed).unlink(missing_ok=True)
            return None

    def _generate(self, adapter: Adapter, todo: list[tuple[Study, int]], outputs: dict, cache: GenerationCache
                  ) -> dict[str, str]:
        """Fill `outputs` for `todo`; returns study_id -> error for studies that failed.

        A batch that raises is retried study by study, so one bad study does not take its batch down with it.
        """
        errors: dict[str, str] = {}
        groups = [todo] if todo else []
        while groups:
            group = groups.pop()
            try:
                produced = adapter.generate([s.only(self.task.inputs) for s, _ in group], self.task,
                                            [seed for _, seed in group])
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
                    checked = _check_outputs(result, self.task)
                except ValueError as error:
                    errors[study.study_id] = f"invalid output: {error}"
                    continue
                cache.save(study.study_id, seed, checked)
                outputs[study.study_id] = checked
        return errors

    def _make_metrics(self, entry: dict, artifact_dir: Path) -> dict[str, Metric]:
        made = {}
        for name in self.metric_names:
            cls = get_metric_class(name)
            settings = self._metric_settings[name]
            for modality in applies_to(cls, self.task):
                key = f"{name}/{modality.value if modality else 'joint'}"
                record = {"metric": name, "modality": modality.value if modality else "joint", "status": "ok",
                          "reason": None, "primary": cls.primary, "higher_is_better": cls.higher_is_better}
                entry["metrics"][key] = record
                reason = cls.unavailable_reason({**cls.default_settings(), **settings})
                if reason:
                    record.update(status="skipped", reason=reason)
                    continue
                context = MetricContext(task=self.task, modality=modality, dataset=self.dataset, split=self.split,
                                        cache_dir=self.cache_dir, artifact_dir=artifact_dir, device=self.device,
                                        batch_size=self.batch_size, features=self._features)
                metric = cls(context, **settings)
                record.update(settings=metric.settings, signature=metric.signature,
                              weights={w: weights.checksum(w) for w in cls.weights})
                if isinstance(getattr(metric, "backbone", None), DemoBackbone):  # said wherever its values go
                    record.update(backbone=DEMO_BACKBONE_LABEL, weights={WEIGHT_NAME: weights.checksum(WEIGHT_NAME)})
                made[key] = metric
        return made

    @staticmethod
    def _score(model_run: _ModelRun, scored: list[tuple[Study, dict]]) -> None:
        update_metrics(model_run.metrics, [Sample(study, generated) for study, generated in scored],
                       model_run.failed_metrics)

    @staticmethod
    def _finish_model(model_run: _ModelRun, generation_rows: list[tuple], failed_metrics: dict[str, tuple[str, str]],
                      per_sample: list[tuple], reference: ReferenceSet) -> None:
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


def _check_settings(kind: str, cls: type, given: dict) -> None:
    """The settings' keys and closed values, checked before the run starts."""
    try:
        cls.resolve_settings(given)
    except ValueError as error:
        raise RunError(f"{error} (`xgem-bench {kind}s {cls.name}` lists them with defaults)") from None


def run(task: str | Task, **kwargs) -> RunResult:
    """Generate with every chosen model on `task` and score with every chosen metric (`xgem-bench run`).

    Keyword arguments as in `Runner`: `models` (names; default every model supporting the task, none when
    `predictions` is given), `predictions` ({name: folder or CSV} of outputs generated elsewhere), `dataset` (a spec
    such as "demo" or "manifest:PATH", or a Dataset), `metrics`, `split`, `limit`, `seed`, `out`, `run_id`,
    `model_settings` / `metric_settings` ({name: {key: value}}), `device`, `batch_size`, `force`, `progress`.
    Returns a `RunResult`; `result.table()` is the summary table, `result.results` everything recorded.
    """
    return Runner(task, **kwargs).run()
