"""`xgem-bench tasks | models | metrics`: what exists, and what can run here (and why not)."""
from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("tasks")(tasks)
    app.command("models")(models)
    app.command("metrics")(metrics)


def tasks() -> None:
    """The twelve tasks of the XGeM paper (nine single-output, three joint)."""
    from xgem_bench.results import format_table
    from xgem_bench.tasks import PAPER_TASKS

    rows = [{"task": t.name, "inputs": "+".join(m.field for m in t.inputs),
             "outputs": "+".join(m.field for m in t.outputs), "kind": "joint" if t.is_joint else "single-output"}
            for t in PAPER_TASKS]
    typer.echo(format_table(rows))


def models(task: Optional[str] = typer.Option(None, "--task", "-t", help="Only models supporting this task.")) -> None:
    """Every adapter, the tasks it supports, and whether it can run here."""
    from xgem_bench.adapters import adapter_names, get_adapter_class
    from xgem_bench.commands._common import user_errors
    from xgem_bench.results import format_table
    from xgem_bench.tasks import TaskError, parse_task

    with user_errors(TaskError):
        wanted = parse_task(task) if task else None
    rows = []
    for name in adapter_names():
        try:
            cls = get_adapter_class(name)
            reason = cls().unavailable_reason()
        except Exception as error:  # noqa: BLE001 - a broken plug-in is listed, not fatal
            rows.append({"model": name, "version": "?", "available": "no", "tasks": "?",
                         "reason": f"cannot load: {error}"})
            continue
        if wanted and not cls.supports(wanted):
            continue
        rows.append({"model": name, "version": cls.version, "available": "no" if reason else "yes",
                     "tasks": " ".join(t.name for t in cls.supported_tasks()), "reason": reason or ""})
    typer.echo(format_table(rows))


def metrics() -> None:
    """Every metric, what it scores, its settings, and whether it can run here."""
    from xgem_bench.metrics import get_metric_class, metric_names
    from xgem_bench.results import format_table

    rows = []
    for name in metric_names():
        cls = get_metric_class(name)
        reason = cls.unavailable_reason(cls.default_settings())
        settings = ", ".join(f"{k}={v}" for k, v in cls.default_settings().items())
        rows.append({"metric": name, "scores": cls.kind, "available": "no" if reason else "yes",
                     "settings": settings, "reason": reason or ""})
    typer.echo(format_table(rows))
