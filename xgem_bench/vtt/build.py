"""`vtt create`: a session file from finished runs (results store + generation cache), balanced and seeded.

Per VTT task: half the items real (rounded down), the rest synthetic, split evenly over the chosen models; every item
of a task shows a different study, so a rater never sees the same study as both real and synthetic in one task. A
real item mirrors the layout of a synthetic one (same views), so layout says nothing about the truth either.
"""
from __future__ import annotations

import csv
import io
import json
import os
import secrets
import sqlite3
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np

from xgem_bench.tasks import Modality, Task, parse_task
from xgem_bench.vtt.protocol import TASKS_BY_ID, VTT_TASKS, VttTask
from xgem_bench.vtt.store import SCHEMA, SCHEMA_VERSION

#: adapters whose "generations" are the study's own real data: never a synthetic item
REAL_DATA_ADAPTERS = ("oracle",)
VIEW_NAMES = {Modality.FRONTAL: "Frontal", Modality.LATERAL: "Lateral"}
#: every image is shown at this size (the size the runner evaluates at), whatever its source
DISPLAY_SIZE = 256


@dataclass
class _Source:
    """One model of one run: its task, cache and the studies it generated."""
    run: dict
    model: str
    task: Task
    cache: object
    seeds: dict[str, int]  # study_id -> seed, studies generated without error


@dataclass
class _Item:
    task: VttTask
    study_id: str
    views: tuple[Modality, ...]     # images shown, F before L
    generated: tuple[Modality, ...]  # what is synthetic (empty: a real item)
    source: _Source | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CreatedSession:
    path: Path
    tokens: list[str]
    n_items: dict[str, int]


def create_session(runs: Sequence[str | Path], out: str | Path, items: int = 20, raters: int = 3, seed: int = 0,
                   models: Sequence[str] | None = None, tasks: Sequence[str] | None = None,
                   results_root: str | Path = "results", cache_root: str | Path | None = None,
                   progress: bool = True) -> CreatedSession:
    """Build a session file at `out` (never overwritten) and return it with the raters' private tokens."""
    from xgem_bench.data import load_dataset
    from xgem_bench.progress import progress_bar
    from xgem_bench.results import load_run

    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists; a session is never overwritten (its ratings would be lost): choose "
                              "another --out")
    if items < 2:
        raise ValueError("--items must be at least 2 (one real and one synthetic item per task)")
    if raters < 1:
        raise ValueError("--raters must be at least 1")
    chosen_tasks = _chosen_tasks(tasks)
    loaded = [load_run(run, results_root) for run in runs]
    if not loaded:
        raise ValueError("give at least one finished run")
    fingerprints = {run["dataset"]["fingerprint"] for run in loaded}
    if len(fingerprints) > 1:
        raise ValueError("the runs were made on different datasets (fingerprints "
                         f"{sorted(fingerprints)}); a session mixes runs of one dataset only")
    spec = loaded[0]["dataset"]["spec"]
    try:
        dataset = load_dataset(spec)
    except (ValueError, FileNotFoundError) as error:
        raise ValueError(f"cannot reopen the runs' dataset {spec!r} for the real items ({error}); runs made on a "
                         "dataset object in Python cannot feed a session: rerun them on a named dataset") from None
    if dataset.fingerprint() != fingerprints.pop():
        raise ValueError(f"dataset {spec!r} changed since the runs were made (fingerprint "
                         "differs); the real items must come from the data the models saw: rerun the runs")
    sources = _sources(loaded, models, cache_root)
    rng = np.random.default_rng(seed)
    evaluated = sorted({sid for s in sources for sid in s.seeds} | _evaluated_studies(loaded))
    plan = {task.id: _plan_task(task, sources, evaluated, items, rng) for task in chosen_tasks}

    position = {sid: i for i, sid in enumerate(dataset.study_ids)}
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.tmp-", dir=out.parent)
    os.close(fd)
    try:
        connection = sqlite3.connect(tmp)
        connection.executescript(SCHEMA)
        bar = progress_bar(sum(map(len, plan.values())), "vtt create", unit="item", enabled=progress)
        item_ids: dict[str, list[str]] = {}
        for task_id, planned in plan.items():
            item_ids[task_id] = []
            for item in planned:
                item_ids[task_id].append(_write_item(connection, item, dataset, position))
                bar.update()
        bar.close()
        tokens = _write_raters(connection, item_ids, raters, seed)
        meta = {"schema": SCHEMA_VERSION, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "seed": seed, "items_per_task": items, "tasks": [t.id for t in chosen_tasks],
                "models": sorted({s.model for s in sources}),
                "runs": [{"run_id": r["run_id"], "run_dir": r["run_dir"], "task": r["task"]} for r in loaded],
                "dataset": {k: loaded[0]["dataset"][k] for k in ("name", "spec", "fingerprint", "synthetic")},
                "image_size": DISPLAY_SIZE}
        connection.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
        connection.commit()
        connection.execute("PRAGMA journal_mode = WAL")  # concurrent raters; stored in the file header
        connection.close()
        os.chmod(tmp, 0o600)  # the file holds the key and the tokens: its owner's eyes only
        _publish_without_overwriting(Path(tmp), out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return CreatedSession(out, tokens, {task_id: len(planned) for task_id, planned in plan.items()})


def _publish_without_overwriting(tmp: Path, out: Path) -> None:
    """Give the finished file its name, atomically, unless a file of that name appeared meanwhile (a hard link
    fails on an existing name, where a rename would replace it and lose that session's ratings)."""
    try:
        os.link(tmp, out)
    except FileExistsError:
        raise FileExistsError(f"{out} appeared while the session was built; nothing was overwritten") from None
    except OSError:  # a file system without hard links: check, then rename
        if out.exists():
            raise FileExistsError(f"{out} appeared while the session was built; nothing was overwritten") from None
        os.replace(tmp, out)


def _chosen_tasks(tasks: Sequence[str] | None) -> list[VttTask]:
    if not tasks:
        return list(VTT_TASKS)
    unknown = [t for t in tasks if t not in TASKS_BY_ID]
    if unknown:
        raise ValueError(f"unknown VTT task(s) {unknown}; the tasks are {[t.id for t in VTT_TASKS]}")
    return [t for t in VTT_TASKS if t.id in tasks]


def _evaluated_studies(runs: list[dict]) -> set[str]:
    studies = set()
    for run in runs:
        with open(Path(run["run_dir"]) / "generation.csv", newline="") as handle:
            studies |= {row["study_id"] for row in csv.DictReader(handle)}
    return studies


def _sources(runs: list[dict], models: Sequence[str] | None, cache_root: str | Path | None) -> list[_Source]:
    from xgem_bench.results import generated_seeds, generation_cache

    found, sources = set(), []
    for run in runs:
        for model, entry in run["models"].items():
            found.add(model)
            if entry.get("status") != "ok" or "cache_key" not in entry:
                continue
            if models is None and entry.get("adapter") in REAL_DATA_ADAPTERS:
                continue
            if models is not None and model not in models:
                continue
            cache = generation_cache(run, model, Path(cache_root) if cache_root is not None else None)
            sources.append(_Source(run, model, parse_task(run["task"]), cache, generated_seeds(run, model)))
    missing = sorted(set(models or ()) - found)
    if missing:
        raise ValueError(f"model(s) {missing} are in none of the runs; the runs hold {sorted(found)}")
    if not sources:
        raise ValueError(f"no model of the runs generated anything usable (models: {sorted(found)}; the oracle "
                         "returns real data and is left out unless named with --model)")
    return sources


def _plan_task(task: VttTask, sources: list[_Source], evaluated: list[str], items: int,
               rng: np.random.Generator) -> list[_Item]:
    usable = [s for s in sources if task.accepts(s.task)]
    if not usable:
        raise ValueError(f"no run can supply the synthetic items of VTT task {task.id!r} ({task.title}); runs of "
                         f"tasks {_example_tasks(task)} can. Add such a run, or leave the task out with --tasks")
    models = sorted({s.model for s in usable})
    n_synthetic = items - items // 2
    quota = {m: n_synthetic // len(models) + (i < n_synthetic % len(models)) for i, m in enumerate(models)}
    used: set[str] = set()
    planned = []
    for model in models:
        candidates = [(s, sid) for s in usable if s.model == model for sid in sorted(s.seeds)]
        order = rng.permutation(len(candidates))
        picked = 0
        for index in order:
            if picked == quota[model]:
                break
            source, study_id = candidates[index]
            if study_id in used:
                continue
            used.add(study_id)
            planned.append(_synthetic_item(task, source, study_id, rng))
            picked += 1
        if picked < quota[model]:
            raise ValueError(f"VTT task {task.id!r} needs {quota[model]} studies generated by {model}, the runs "
                             f"have {picked} usable ones; lower --items or use runs over more studies")
    free = [sid for sid in evaluated if sid not in used]
    n_real = items // 2
    if len(free) < n_real:
        raise ValueError(f"VTT task {task.id!r} needs {n_real} more studies for its real items, the runs evaluated "
                         f"{len(free)} others; lower --items or use runs over more studies")
    real_ids = [free[i] for i in rng.permutation(len(free))[:n_real]]
    synthetic = list(planned)
    for i, study_id in enumerate(real_ids):  # mirror the synthetic items' layouts, in turn
        planned.append(_Item(task, study_id, synthetic[i % len(synthetic)].views, ()))
    return planned


def _synthetic_item(task: VttTask, source: _Source, study_id: str, rng: np.random.Generator) -> _Item:
    made = [m for m in source.task.outputs if m.is_image]
    given = [m for m in source.task.inputs if m.is_image]
    if task.id == "xray-realism":
        view = made[int(rng.integers(len(made)))]
        return _Item(task, study_id, (view,), (view,), source)
    if task.id == "report-realism":
        return _Item(task, study_id, (), (Modality.REPORT,), source)
    if task.id == "report-xray-pair":
        return _Item(task, study_id, (Modality.FRONTAL, Modality.LATERAL), (Modality.REPORT,), source)
    if task.id == "xray-report":
        return _Item(task, study_id, tuple(made), tuple(made), source)
    if task.id == "xray-pair":  # the other view of a real one
        made = [m for m in made if m not in given]
        return _Item(task, study_id, (Modality.FRONTAL, Modality.LATERAL), (made[0],), source)
    raise AssertionError(task.id)


def _example_tasks(task: VttTask) -> list[str]:
    from xgem_bench.tasks import PAPER_TASKS
    return [t.name for t in PAPER_TASKS if task.accepts(t)]


def _write_item(connection: sqlite3.Connection, item: _Item, dataset, position: dict[str, int]) -> str:
    wanted = set(item.views) | ({Modality.REPORT} if item.task.shows_report else set())
    real = dataset.load(position[item.study_id], tuple(wanted))
    generated = {}
    if item.generated:
        outputs = item.source.cache.load(item.study_id, item.source.seeds[item.study_id])
        if outputs is None:
            raise FileNotFoundError(f"{item.source.cache.folder} lacks the output of study {item.study_id} "
                                    f"({item.source.model}); rerun the run (same --run-id) to regenerate it")
        generated = {m: outputs[m] for m in item.generated}
    images = []
    for view in item.views:
        pixels = generated.get(view, real.get(view))
        image_id = secrets.token_hex(16)
        connection.execute("INSERT INTO images VALUES (?, ?)", (image_id, encode_png(pixels)))
        images.append({"id": image_id, "view": VIEW_NAMES[view]})
    report = None
    if item.task.shows_report:
        report = str(generated.get(Modality.REPORT, real.report)).strip()
    item_id = secrets.token_hex(16)
    connection.execute("INSERT INTO items VALUES (?, ?, ?, ?)", (item_id, item.task.id, report, json.dumps(images)))
    source = item.source
    connection.execute("INSERT INTO answer_key VALUES (?, ?, ?, ?, ?, ?, ?)", (
        item_id, "synthetic" if item.generated else "real", source.model if item.generated else None,
        source.run["run_id"] if item.generated else "", source.task.name if item.generated else "",
        item.study_id, json.dumps([m.value for m in item.generated])))
    return item_id


def encode_png(pixels: np.ndarray) -> bytes:
    """8-bit grey PNG at DISPLAY_SIZE, stored uncompressed and without any metadata chunk: every image of a session
    has the same byte length, so neither size, name nor metadata can tell real from synthetic."""
    from PIL import Image

    array = np.asarray(pixels, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"an X-ray must be a 2-D grey image, got shape {array.shape}")
    image = Image.fromarray(np.round(np.clip(array, 0.0, 1.0) * 255).astype(np.uint8), mode="L")
    if image.size != (DISPLAY_SIZE, DISPLAY_SIZE):
        image = image.resize((DISPLAY_SIZE, DISPLAY_SIZE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


def _write_raters(connection: sqlite3.Connection, item_ids: dict[str, list[str]], raters: int, seed: int
                  ) -> list[str]:
    """Private tokens (192 random bits each) and a per-rater order: tasks in the paper's order, items shuffled."""
    tokens = []
    for rater in range(1, raters + 1):
        token = secrets.token_urlsafe(24)
        tokens.append(token)
        connection.execute("INSERT INTO raters VALUES (?, ?, ?)", (rater, token, f"rater {rater}"))
        rng = np.random.default_rng([seed, rater])
        order = [ids[i] for ids in item_ids.values() for i in rng.permutation(len(ids))]
        connection.executemany("INSERT INTO assignments VALUES (?, ?, ?)",
                               [(rater, position, item_id) for position, item_id in enumerate(order)])
    return tokens
