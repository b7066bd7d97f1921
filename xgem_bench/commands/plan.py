"""`xgem-bench plan`: what an evaluation will cost before it runs.

Studies x tasks x sampling steps; the per-study generation time MEASURED here (a few studies of the dataset through the
model on this machine's device, after one warm-up batch); device-hours for N GPUs (studies sharded evenly, as
`torchrun ... run` does); and the launch command. The full protocol is 33,588 MIMIC-CXR test studies x 12 tasks:
without MIMIC-CXR at hand, measure on the demo and pass `--studies 33588`.
"""
from __future__ import annotations

import time
from typing import List, Optional

import typer

from xgem_bench.commands._common import OLD_SETTING_HELP, cli_settings, user_errors


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)


def plan(
    task: Optional[List[str]] = typer.Option(None, "--task", "-t", help="Task(s); 'paper' (default) = the 12 paper "
                                                                         "tasks."),
    model: str = typer.Option(..., "--model", "-m", help="The model whose cost to measure."),
    dataset: str = typer.Option("demo", help="Dataset spec, as for `xgem-bench run`."),
    split: str = typer.Option("test", help="Split to evaluate."),
    studies: Optional[int] = typer.Option(None, help="Plan for this many studies per task instead of the dataset's "
                                                     "eligible count (e.g. 33588, MIMIC-CXR's test split)."),
    gpus: int = typer.Option(1, "--gpus", help="GPUs (processes) to plan for."),
    probe: int = typer.Option(2, "--probe", help="Studies timed per task."),
    setting: Optional[List[str]] = typer.Option(None, "--setting", "-s", help="Model setting MODEL.KEY=VALUE."),
    option: Optional[List[str]] = typer.Option(None, "--option", "-o", hidden=True, help=OLD_SETTING_HELP),
    device: Optional[str] = typer.Option(None, help="cpu, cuda, ... (default: GPU when there is one)."),
) -> None:
    """Measure the per-study cost of a model on this machine and estimate an evaluation's device-hours."""
    from xgem_bench.tasks import PAPER_TASKS, TaskError, parse_task

    with user_errors(KeyError, ValueError, TaskError, FileNotFoundError, RuntimeError):
        if gpus < 1 or probe < 1:
            raise ValueError("--gpus and --probe must be at least 1")
        names = [t for item in (task or ["paper"]) for t in item.split(",")]
        tasks = list(PAPER_TASKS) if names == ["paper"] else [parse_task(t) for t in names]
        rows, command = measure_plan(tasks, model, dataset, split, studies, probe,
                                     cli_settings(setting, option, "model").get(model, {}), device)
    total = sum(r["device_seconds"] for r in rows)
    typer.echo(f"{'task':<10}{'studies':>9}{'steps':>7}{'s/study':>10}{'device-h':>10}")
    for r in rows:
        typer.echo(f"{r['task']:<10}{r['studies']:>9}{str(r['steps']):>7}{r['seconds_per_study']:>10.3f}"
                   f"{r['device_seconds'] / 3600:>10.2f}")
    typer.echo(f"total: {total / 3600:.2f} device-hours on {rows[0]['device']}; with {gpus} GPU(s) "
               f"~{total / gpus / 3600:.2f} h wall-clock (even sharding; scoring not included)")
    launch = "python -m xgem_bench.cli" if gpus == 1 else f"torchrun --standalone --nproc_per_node {gpus} -m " \
                                                           "xgem_bench.cli"
    typer.echo("launch, per task:\n  " + command.format(launch=launch, task="TASK"))


def measure_plan(tasks, model: str, dataset_spec: str, split: str, studies: int | None, probe: int,
                 options: dict, device: str | None) -> tuple[list[dict], str]:
    """Per task: eligible studies, the adapter's sampling steps, and the measured seconds per study."""
    from xgem_bench.adapters import get_adapter_class
    from xgem_bench.adapters.base import AdapterContext
    from xgem_bench.cache import study_seed
    from xgem_bench.data import load_dataset
    from xgem_bench.distributed import resolve_device
    from xgem_bench.run_arguments import eligible

    data = load_dataset(dataset_spec)
    adapter = get_adapter_class(model)(**options)
    reason = adapter.unavailable_reason()
    if reason:
        raise RuntimeError(f"{model}: {reason}")
    device = resolve_device(device)
    adapter.setup(AdapterContext(device=device, dataset=data))
    rows = []
    for task in tasks:
        if not adapter.supports(task):
            raise ValueError(f"{model} does not support {task.name}")
        candidates, _ = eligible(data, task, split)
        if len(candidates) == 0:
            raise ValueError(f"no {split} studies of {data.name} have every modality of {task.name}")
        batch = [data.load(int(i)) for i in candidates[:probe]]
        seeds = [study_seed(0, s.study_id) for s in batch]
        adapter.generate(batch[:1], task, seeds[:1])  # warm-up: first-call allocations and caches
        started = time.perf_counter()
        adapter.generate(batch, task, seeds)
        per_study = (time.perf_counter() - started) / len(batch)
        n = studies if studies is not None else len(candidates)
        rows.append({"task": task.name, "studies": n, "steps": adapter.settings.get("steps"),
                     "seconds_per_study": per_study, "device_seconds": n * per_study, "device": device})
    opts = " ".join(f"-o {model}.{k}={v}" for k, v in options.items())
    command = f"{{launch}} run --task {{task}} --model {model} --dataset {dataset_spec} --split {split} {opts}".strip()
    return rows, command
