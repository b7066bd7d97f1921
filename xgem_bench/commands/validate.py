"""`xgem-bench validate`: the validity ladder (does each metric move the right way when outputs get worse?)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from xgem_bench.commands._common import user_errors


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)


def validate(
    dataset: str = typer.Option("demo", help="The demo (its phantoms are redrawn with other findings)."),
    limit: Optional[int] = typer.Option(60, help="Studies of the split to degrade (0: all)."),
    split: str = typer.Option("test", help="Dataset split whose real outputs are degraded."),
    metrics: Optional[List[str]] = typer.Option(None, "--metrics", help="Metric(s); default: every one with "
                                                                        "expectations that can run here."),
    ladder: Optional[List[str]] = typer.Option(None, "--ladder", help="Ladder(s); default: all."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the levels, values, rho and pass here."),
    device: str = typer.Option("cpu", help="cpu, cuda, ..."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Degrade real outputs in a known order and check every metric follows; exit 1 if an expected monotonicity
    fails."""
    from xgem_bench.cache import atomic_write_text
    from xgem_bench.validity import format_validity_table, validate as run_ladders

    with user_errors(KeyError, ValueError, FileNotFoundError):
        result = run_ladders(dataset=dataset, split=split, limit=limit or None, metrics=metrics, ladders=ladder,
                             device=device, progress=not quiet)
    typer.echo(format_validity_table(result))
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(result, indent=2) + "\n")
        typer.echo(f"written {json_path}")
    if not result["all_pass"]:
        raise typer.Exit(1)
