"""The three experiments of the paper's §4.5, each a set of arms trained under identical settings and scored on the
same real test set:

- `anonymization` (Tables 8 / A4): `real` (the real training split) vs `synthetic` (one synthetic image per real
  training study, generated from its report).
- `imbalance` (Tables 9-10 / A5): `real` vs `real+synthetic`, where synthetic studies are added for the classes short
  of positives until every class has as many positives as the most frequent one (`balancing_sources`).
- `scarcity` (Tables 11 / A6): `n_real` real studies plus each of `n_synthetic` synthetic ones.

Results go to `<out>/<run-id>/utility.json` (settings, data counts, per-seed values, mean, sd, intervals); each
classifier's checkpoint and test probabilities under `<out>/<run-id>/arms/<arm>/seed<k>/`; the synthetic images'
generation run under `<out>/<run-id>/synthetic/`. Starting the same run id again resumes it.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from xgem_bench import results as store
from xgem_bench import distributed
from xgem_bench.atomic import atomic_write_text
from xgem_bench.data import Dataset, load_dataset
from xgem_bench.data.study import PAPER_PATHOLOGIES
from xgem_bench.tasks import Modality
from xgem_bench.utility import synthetic
from xgem_bench.utility.data import LabelledImages, label_matrix, real_images, to_uint8, with_view
from xgem_bench.utility.evaluate import summarise
from xgem_bench.utility.prompts import cycle
from xgem_bench.utility.train import TrainSettings, train_arm

EXPERIMENTS = ("anonymization", "imbalance", "scarcity")
#: Table 9's five classes (the paper's "five most represented"); `top5` picks the five most frequent instead
PAPER_IMBALANCE_CLASSES = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
PAPER_N_REAL = 15_000
PAPER_N_SYNTHETIC = (0, 5_000, 15_000, 30_000, 60_000)
RESULTS_FILE = "utility.json"
CONFIG_FILE = "utility_config.json"
SCHEMA = 1


class UtilityError(ValueError):
    """The experiment cannot run as asked (bad sizes, classes, sources); the message names the fix."""


@dataclass(frozen=True)
class UtilityConfig:
    experiment: str
    real: str = "demo"
    #: a model name (adapter) or a predictions folder / CSV
    synthetic: str = "xgem"
    view: str = "F"
    #: None: the experiment's default (the ten paper pathologies; Table 9's five for imbalance); ("top5",) for imbalance
    classes: tuple[str, ...] | None = None
    seeds: int = 3
    train: TrainSettings = field(default_factory=TrainSettings)
    n_real: int = PAPER_N_REAL
    n_synthetic: tuple[int, ...] = PAPER_N_SYNTHETIC
    #: seed of the synthetic generation and of every data subset drawn
    data_seed: int = 0
    #: settings of the synthetic source (`-s xgem.steps=20`)
    model_settings: dict[str, Any] = field(default_factory=dict)
    n_resamples: int = 1000
    train_split: str = "train"
    validate_split: str = "validate"
    test_split: str = "test"
    batch_size_generation: int = 8

    def __post_init__(self):
        if self.experiment not in EXPERIMENTS:
            raise UtilityError(f"experiment must be one of {EXPERIMENTS}, got {self.experiment!r}")
        if self.view not in ("F", "L"):
            raise UtilityError(f"view must be F (frontal) or L (lateral), got {self.view!r}")
        if self.seeds < 1:
            raise UtilityError("seeds must be at least 1")
        if self.experiment == "scarcity" and (self.n_real < 1 or any(n < 0 for n in self.n_synthetic)
                                              or not self.n_synthetic):
            raise UtilityError("scarcity needs n_real >= 1 and synthetic sizes >= 0 (e.g. --n-synthetic 0,5000)")
        unknown = [c for c in (self.classes or ()) if c not in PAPER_PATHOLOGIES and c != "top5"]
        if unknown:
            raise UtilityError(f"unknown classes {unknown}; choose among {', '.join(PAPER_PATHOLOGIES)}"
                               + (" or top5" if self.experiment == "imbalance" else ""))

    def to_dict(self) -> dict:
        return {**asdict(self), "train": self.train.to_dict()}


def resolve_classes(config: UtilityConfig, train_labels_all: np.ndarray) -> tuple[str, ...]:
    """The classes of the experiment; `top5`: the five with the most positives in the training split."""
    if config.classes and config.classes != ("top5",):
        return tuple(config.classes)
    if config.experiment != "imbalance":
        return PAPER_PATHOLOGIES
    if config.classes == ("top5",):
        counts = np.nansum(train_labels_all == 1, axis=0)
        return tuple(PAPER_PATHOLOGIES[i] for i in sorted(np.argsort(-counts, kind="stable")[:5]))
    return PAPER_IMBALANCE_CLASSES


def balancing_sources(labels: np.ndarray, rng: np.random.Generator, classes: Sequence[str]) -> list[int]:
    """Rows of `labels` (candidate prompts) to add, greedily for the class furthest below the most frequent class's
    positive count, until none is below it. Each added prompt brings all its labels (a report stating two findings
    counts for both)."""
    positive = labels == 1
    counts = positive.sum(axis=0).astype(int)
    target = int(counts.max())
    queues: dict[int, list[int]] = {k: [] for k in range(labels.shape[1])}
    picked: list[int] = []
    limit = target * labels.shape[1] * 4 + 10
    while (counts < target).any():
        k = int(np.argmax(target - counts))
        if not positive[:, k].any():
            raise UtilityError(f"no training study with a report states {classes[k]}: it cannot be balanced; choose "
                               "other --classes")
        if not queues[k]:
            queues[k] = cycle(np.flatnonzero(positive[:, k]), int(positive[:, k].sum()), rng)
        row = queues[k].pop(0)
        picked.append(row)
        counts += positive[row]
        if len(picked) > limit:
            raise UtilityError("balancing does not converge (the reports that state a rare class also state the "
                               "frequent ones); choose other --classes")
    return picked


def positives(labels: np.ndarray, classes: Sequence[str]) -> dict[str, dict[str, float]]:
    n = len(labels)
    return {c: {"n_pos": int(np.sum(labels[:, k] == 1)), "share": float(np.sum(labels[:, k] == 1) / n) if n else 0.0}
            for k, c in enumerate(classes)}


def _new_run_id(config: UtilityConfig) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    salt = hashlib.sha256(f"{time.time_ns()}".encode()).hexdigest()[:4]
    return f"{stamp}-utility-{config.experiment}-{config.view}-{salt}"


def _prepare(run_dir: Path, config: UtilityConfig) -> None:
    """Create the run folder, or reopen an unfinished one started with the same configuration."""
    if (run_dir / RESULTS_FILE).exists():
        raise UtilityError(f"{run_dir} holds a finished utility run; choose another --run-id or --out")
    saved = run_dir / CONFIG_FILE
    wanted = json.dumps(config.to_dict(), sort_keys=True, default=str)
    if saved.exists():
        if json.dumps(json.loads(saved.read_text()), sort_keys=True, default=str) != wanted:
            raise UtilityError(f"{run_dir} was started with other settings ({saved}); resume it with the same "
                               "ones or choose another --run-id")
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(saved, json.dumps(config.to_dict(), indent=1, sort_keys=True, default=str))


def run_experiment(config: UtilityConfig, out: str | Path = "results", run_id: str | None = None,
                   progress: bool = True, dataset: Dataset | None = None) -> dict:
    """Run (or resume) one experiment; returns the content of utility.json (written by the main process).

    `dataset`: a Dataset object used instead of loading `config.real` (notebooks, tests); `config.real` names it."""
    owned = _join()
    try:
        return _run(config, out, run_id, progress and distributed.is_main(), dataset)
    finally:
        if owned:  # without it the processes hang at exit
            distributed.shutdown()


def _join() -> bool:
    """Join the launcher's process group now (nothing in one process), so that the runner's generation inside the
    experiment does not own it (and tear it down) and every later barrier holds. True when this call created it."""
    import torch.distributed as dist
    joined_before = dist.is_initialized()
    distributed.init_accelerate()
    return not joined_before and dist.is_initialized()


def _run(config: UtilityConfig, out: str | Path, run_id: str | None, progress: bool, dataset: Dataset | None) -> dict:
    started, load_before = time.time(), _load_average()
    if distributed.launched_world_size() > 1 and run_id is None:
        raise UtilityError("under torchrun give --run-id, so that every process writes to the same run")
    run_id = run_id or _new_run_id(config)
    run_dir = Path(out) / run_id
    if distributed.is_main():
        _prepare(run_dir, config)
    distributed.barrier()
    real = dataset if dataset is not None else load_dataset(config.real)
    view = Modality(config.view)
    size = config.train.image_size
    train_pos = with_view(real, config.train_split, view)
    prompt_pos = with_view(real, config.train_split, view, need_report=True)
    classes = resolve_classes(config, label_matrix(real, train_pos, PAPER_PATHOLOGIES))
    validate_pos, test_pos = with_view(real, config.validate_split, view), with_view(real, config.test_split, view)
    for split, positions in ((config.train_split, train_pos), (config.validate_split, validate_pos),
                             (config.test_split, test_pos)):
        if len(positions) == 0:
            raise UtilityError(f"split {split!r} of {real.name!r} has no study with a {view.name.lower()} image")
    validate = real_images(real, validate_pos, view, classes, size, "validation images", progress)
    test = real_images(real, test_pos, view, classes, size, "test images", progress)
    rng = np.random.default_rng(config.data_seed)

    def make_synthetic(sources: list[int], tag: str) -> LabelledImages:
        generation_started = time.time()
        made = synthetic.generate(config.synthetic, real, sources, view, run_dir / "synthetic", tag,
                                  seed=config.data_seed, model_settings=config.model_settings,
                                  batch_size=config.batch_size_generation, progress=progress)
        synthetic_records[tag] = made.record | {"n_requested": len(sources), "n_received": len(made.images),
                                                "seconds": round(time.time() - generation_started, 3)}
        images = torch.stack([to_uint8(image, size) for image in made.images])
        return LabelledImages(images, label_matrix(real, made.sources, classes), made.ids)

    synthetic_records: dict[str, dict] = {}
    arms: dict[str, LabelledImages] = {}
    arm_info: dict[str, dict] = {}
    if config.experiment == "anonymization":
        arms["real"] = real_images(real, train_pos, view, classes, size, "real training images", progress)
        arms["synthetic"] = make_synthetic(list(prompt_pos), "anonymization")
        arm_info = {"real": {"n_real": len(arms["real"]), "n_synthetic": 0},
                    "synthetic": {"n_real": 0, "n_synthetic": len(arms["synthetic"])}}
    elif config.experiment == "imbalance":
        arms["real"] = real_images(real, train_pos, view, classes, size, "real training images", progress)
        added = balancing_sources(label_matrix(real, prompt_pos, classes), rng, classes)
        balancing = make_synthetic([int(prompt_pos[i]) for i in added], "balancing")
        arms["real+synthetic"] = arms["real"] + balancing
        arm_info = {"real": {"n_real": len(arms["real"]), "n_synthetic": 0},
                    "real+synthetic": {"n_real": len(arms["real"]), "n_synthetic": len(balancing)}}
    else:
        if config.n_real > len(train_pos):
            raise UtilityError(f"--n-real {config.n_real} exceeds the {len(train_pos)} training studies with a "
                               f"{view.name.lower()} image; choose a smaller --n-real")
        subset = np.sort(rng.permutation(train_pos)[: config.n_real])
        base = real_images(real, subset, view, classes, size, "real training images", progress)
        most = max(config.n_synthetic)
        pool = make_synthetic(cycle(prompt_pos, most, rng), "scarcity") if most else None
        for n in sorted(set(config.n_synthetic)):
            added = pool.subset(range(min(n, len(pool)))) if n else None
            name = f"real{config.n_real}+synthetic{n}"
            arms[name] = base + added if added is not None else base
            # n_synthetic: what was trained on (fewer than asked for when the source failed on some prompts)
            arm_info[name] = {"n_real": config.n_real, "n_synthetic_requested": n,
                              "n_synthetic": len(added) if added is not None else 0}
    for name, data in arms.items():
        arm_info[name].update(n_train=len(data), positives=positives(data.labels, classes))

    arm_results, training_started, scoring_s = {}, time.time(), 0.0
    for name, data in arms.items():
        per_seed, records = [], []
        for seed in range(config.seeds):
            folder = run_dir / "arms" / _safe(name) / f"seed{seed}"
            trained = train_arm(data, validate, test, config.train, seed, folder,
                                desc=f"{config.experiment} {name} seed {seed}", progress=progress)
            per_seed.append(trained["probabilities"])
            records.append(trained["record"])
        scoring_started = time.time()
        arm_results[name] = {**arm_info[name], "training": records,
                             **summarise(test.labels, per_seed, classes, config.train.threshold,
                                         n_resamples=config.n_resamples, seed=config.data_seed)}
        scoring_s += time.time() - scoring_started
    dataset = {"name": real.name, "spec": config.real, "synthetic": real.synthetic, "fingerprint": real.fingerprint(),
               "n_train": len(train_pos), "n_validate": len(validate), "n_test": len(test),
               "test_positives": positives(test.labels, classes),
               "train_positives": positives(label_matrix(real, train_pos, classes), classes)}
    results = {"schema": SCHEMA, "kind": "utility", "run_id": run_id, "experiment": config.experiment,
               "view": config.view, "classes": list(classes), "config": config.to_dict(), "dataset": dataset,
               "synthetic_source": {"source": config.synthetic, "generations": synthetic_records},
               "arms": arm_results, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "provenance": store.provenance(str(_device()), distributed.launched_world_size()),
               "timings": {"total_s": round(time.time() - started, 3), "torch_threads": torch.get_num_threads(),
                           # CPU seconds of this process, all threads: about what the run needs of an idle machine
                           "cpu_s": round(time.process_time(), 3),
                           # where the time went: images read and resized once, generation, training, scores
                           "data_and_generation_s": round(training_started - started, 3),
                           "generation_s": round(sum(r["seconds"] for r in synthetic_records.values()), 3),
                           "training_s": round(time.time() - training_started - scoring_s, 3),
                           "scoring_s": round(scoring_s, 3),
                           "load_average_start_end": [load_before, _load_average()]}}
    if distributed.is_main():
        atomic_write_text(run_dir / RESULTS_FILE, json.dumps(results, indent=1, default=_json_default))
    distributed.barrier()
    return {**results, "run_dir": str(run_dir)}


def load_utility_run(path: str | Path, root: str | Path = "results") -> dict:
    """utility.json of a run folder or run id (under `root`), with `run_dir` added."""
    path = Path(path)
    if not path.exists() and (Path(root) / path).exists():
        path = Path(root) / path
    file = path if path.suffix == ".json" else path / RESULTS_FILE
    if not file.exists():
        raise FileNotFoundError(f"{path} is not a finished utility run (no {RESULTS_FILE}); run `xgem-bench utility "
                                "anonymization|imbalance|scarcity` first, or resume it with the same --run-id")
    results = json.loads(file.read_text())
    if results.get("kind") != "utility" or results.get("schema") != SCHEMA:
        raise ValueError(f"{file} is not a utility results file of schema {SCHEMA}")
    return {**results, "run_dir": str(file.parent)}


def _load_average() -> float | None:
    """The 1-minute load average (the demo's timings depend on how busy the CPU was), None where unknown."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _safe(name: str) -> str:
    return name.replace("+", "_plus_")


def _device() -> str:
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return str(value)
