"""`xgem-bench results list | show RUN`."""
from __future__ import annotations

from pathlib import Path

import typer

results_app = typer.Typer(no_args_is_help=True, help="Inspect finished runs.")


def register(app: typer.Typer) -> None:
    app.add_typer(results_app, name="results")


@results_app.command("list")
def list_(root: Path = typer.Option(Path("results"), help="Folder holding run folders.")) -> None:
    """Finished runs under ROOT."""
    from xgem_bench.results import format_table, list_runs

    rows = [{**r, "models": ",".join(r["models"])} for r in list_runs(root)]
    typer.echo(format_table(rows) if rows else f"no runs under {root}")


@results_app.command("show")
def show(run: Path = typer.Argument(..., help="A run folder or a run id (see `results list`)."),
         as_json: bool = typer.Option(False, "--json", help="Print the whole results.json."),
         root: Path = typer.Option(Path("results"), "--root", help="Folder where run ids are looked up.")) -> None:
    """Aggregate numbers of one run."""
    import json

    from xgem_bench.commands._common import user_errors
    from xgem_bench.results import format_table, load_run, summary_rows

    with user_errors(FileNotFoundError, ValueError):
        results = load_run(run, root)
    if as_json:
        typer.echo(json.dumps(results, indent=2))
        return
    typer.echo(f"{results['run_id']}: task {results['task']}, dataset {results['dataset']['name']}, "
               f"commit {results['provenance']['git']['commit']}")
    typer.echo(format_table(summary_rows(results)))
