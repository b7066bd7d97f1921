"""`xgem-bench tasks | models | metrics`: what exists, and what can run here (and why not).

Tables fit the terminal (`--wide` prints every cell in full); `models NAME` / `metrics NAME` show one entry in
full; `--json` gives everything for scripts. Only the classes asked about are imported, and availability checks
are file checks, so these answer in about a second.
"""
from __future__ import annotations

import json
from typing import Any, Optional

import typer

WIDE_HELP = "Print every cell in full instead of fitting the terminal width ($COLUMNS)."
JSON_HELP = "Print JSON (one object per entry) instead of a table."


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


def model_info(name: str) -> dict[str, Any]:
    """Everything `models --json` says about one adapter; a plug-in that fails to load is described, not fatal."""
    from xgem_bench.adapters import get_adapter_class

    try:
        cls = get_adapter_class(name)
        reason = cls().unavailable_reason()
    except Exception as error:  # noqa: BLE001 - a broken plug-in is listed, not fatal
        return {"name": name, "version": None, "description": "", "tasks": [], "settings": {}, "weights": [],
                "available": False, "reason": f"cannot load: {type(error).__name__}: {error}"}
    return {"name": name, "version": cls.version, "description": cls.description,
            "tasks": [t.name for t in cls.supported_tasks()], "settings": cls.default_settings(),
            "weights": list(cls.weights), "available": reason is None, "reason": reason}


def models(
    name: Optional[str] = typer.Argument(None, help="Show this model in full."),
    task: Optional[str] = typer.Option(None, "--task", "-t", help="Only models supporting this task (quote it: "
                                                                  "--task 'T->F')."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    wide: bool = typer.Option(False, "--wide", help=WIDE_HELP),
) -> None:
    """Every adapter, the tasks it supports, and whether it can run here."""
    from xgem_bench.adapters import adapter_names, get_adapter_class
    from xgem_bench.commands._common import user_errors
    from xgem_bench.tasks import PAPER_TASKS, TaskError, parse_task

    with user_errors(TaskError, KeyError):
        wanted = parse_task(task) if task else None
        if name:
            get_adapter_class(name)  # an unknown name gets the closest valid ones
    names = [name] if name else adapter_names()
    if wanted:
        names = [n for n in names if _supports(n, wanted)]
    infos = [model_info(n) for n in names]
    if as_json:
        typer.echo(json.dumps(infos if not name else infos[0], indent=2, default=str))
    elif name:
        _print_details(infos[0])
    else:
        every = {t.name for t in PAPER_TASKS}
        rows = [{"model": i["name"], "version": i["version"], "available": i["available"],
                 "tasks": f"all {len(every)}" if set(i["tasks"]) == every else " ".join(i["tasks"]) or "-",
                 "reason": i["reason"]} for i in infos]
        _print_table(rows, wide, "`xgem-bench models NAME` shows one in full")


def _supports(name: str, task) -> bool:
    from xgem_bench.adapters import get_adapter_class
    try:
        return get_adapter_class(name).supports(task)
    except Exception:  # noqa: BLE001 - a broken plug-in stays listed with its error
        return True


def metric_info(name: str) -> dict[str, Any]:
    from xgem_bench.metrics import get_metric_class

    cls = get_metric_class(name)
    defaults = cls.default_settings()
    return {"name": name, "scores": cls.kind, "higher_is_better": cls.higher_is_better, "primary": cls.primary,
            "settings": defaults, "allowed": {k: list(v) for k, v in cls.allowed_settings().items()},
            "weights": list(cls.weights), "available": (reason := cls.unavailable_reason(defaults)) is None,
            "reason": reason}


def metrics(
    name: Optional[str] = typer.Argument(None, help="Show this metric in full."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    wide: bool = typer.Option(False, "--wide", help=WIDE_HELP),
) -> None:
    """Every metric, what it scores, its settings, and whether it can run here."""
    from xgem_bench.commands._common import user_errors
    from xgem_bench.metrics import get_metric_class, metric_names

    with user_errors(KeyError):
        if name:
            get_metric_class(name)
    infos = [metric_info(n) for n in ([name] if name else metric_names())]
    if as_json:
        typer.echo(json.dumps(infos if not name else infos[0], indent=2, default=str))
    elif name:
        _print_details(infos[0])
    else:
        rows = [{"metric": i["name"], "scores": i["scores"], "available": i["available"],
                 "settings": ", ".join(f"{k}={v}" for k, v in i["settings"].items()), "reason": i["reason"]}
                for i in infos]
        _print_table(rows, wide, "`xgem-bench metrics NAME` shows one in full")


def _print_table(rows: list[dict], wide: bool, detail_hint: str) -> None:
    from xgem_bench.terminal import fit_table
    typer.echo(fit_table(rows, footnote_columns=("reason", "source", "location"), wide=wide,
                         detail_hint=detail_hint))


def _print_details(info: dict[str, Any]) -> None:
    """One entry, a field per line, wrapped to the terminal."""
    import textwrap

    from xgem_bench.terminal import terminal_width
    width = max(terminal_width(), 40)
    for key, value in info.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        elif isinstance(value, list):
            value = " ".join(map(str, value)) or "-"
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        typer.echo("\n".join(textwrap.wrap(f"{key}: {'-' if value in (None, '') else value}", width=width,
                                           subsequent_indent="    ", break_on_hyphens=False)))
