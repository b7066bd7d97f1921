"""`xgem-bench adapter new NAME` (plug-in skeleton) and `xgem-bench adapter check NAME` (conformance check)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from xgem_bench.commands._common import OLD_SETTING_HELP, cli_settings, fail, user_errors

adapter_app = typer.Typer(no_args_is_help=True, help="Write and check model adapters (see docs/adapters.md).")


@adapter_app.command("new")
def new(name: str = typer.Argument(..., help="Adapter name, e.g. my-model."),
        directory: Path = typer.Option(Path("."), "--dir", help="Where to create the xgem-bench-NAME/ project.")):
    """Write a plug-in project with a working example adapter, its entry point and a test."""
    from xgem_bench.adapters.skeleton import write_skeleton

    with user_errors(ValueError, FileExistsError):
        files = write_skeleton(name, directory)
    root = files[0].parent
    typer.echo(f"wrote {root}/")
    for path in files:
        typer.echo(f"  {path.relative_to(root)}")
    typer.echo(f"next: pip install -e {root} && xgem-bench adapter check {name} && pytest {root / 'tests'}")


@adapter_app.command("check")
def check(name: str = typer.Argument(..., help="A name from `xgem-bench models`."),
          setting: Optional[List[str]] = typer.Option(None, "--setting", "-s",
                                                      help="Adapter setting KEY=VALUE (or NAME.KEY=VALUE)."),
          option: Optional[List[str]] = typer.Option(None, "--option", "-o", hidden=True, help=OLD_SETTING_HELP),
          task: Optional[List[str]] = typer.Option(None, "--task", "-t", help="Task(s) to check; default: all."),
          dataset: str = typer.Option("demo", help="Dataset the studies come from."),
          n: int = typer.Option(3, min=1, help="Studies per task."),
          seed: int = typer.Option(0),
          device: str = typer.Option("cpu"),
          atol: float = typer.Option(1e-5, help="Largest pixel difference still counted as the same output."),
          as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")):
    """Run the adapter on a few studies per task and validate outputs (shape, range, dtype, text, determinism)."""
    from xgem_bench.adapters import get_adapter_class
    from xgem_bench.adapters.conformance import check_adapter
    from xgem_bench.tasks import TaskError

    def owned(pairs):
        return [p if "." in p.partition("=")[0] else f"{name}.{p}" for p in pairs or []]
    settings = cli_settings(owned(setting), owned(option), "adapter")
    if set(settings) - {name}:
        fail(f"settings for {sorted(set(settings) - {name})} given while checking {name!r}")
    with user_errors(KeyError, ValueError, TaskError):
        adapter = get_adapter_class(name)(**settings.get(name, {}))
        report = check_adapter(adapter, dataset, tasks=task, n_studies=n, seed=seed, device=device, atol=atol)
    typer.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.render())
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(adapter_app, name="adapter")
