"""`xgem-bench compare RUN... --task T --metric M --key K A B`: paired test between two models on shared studies."""
from __future__ import annotations

from pathlib import Path
from typing import List

import typer


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)


def compare(runs: List[Path] = typer.Argument(..., help="Run folders holding both models' results."),
            task: str = typer.Option(..., help="Task, e.g. L->F+T."),
            metric: str = typer.Option(..., help="Metric name, e.g. coherence-cosine."),
            key: str = typer.Option(None, help="Value key (default: the metric's primary value)."),
            a: str = typer.Option(..., "--a", help="First model (difference = A - B)."),
            b: str = typer.Option(..., "--b", help="Second model."),
            test: str = typer.Option(None, help="bootstrap (paired bootstrap) or randomisation (approximate "
                                                "randomisation); default: randomisation for FID (at fixed N: a "
                                                "resample with replacement inflates FID), bootstrap otherwise."),
            resamples: int = typer.Option(1000, help="Resamples."),
            seed: int = typer.Option(0, help="Seed."),
            level: float = typer.Option(0.95, help="Level of the interval of the difference (bootstrap).")) -> None:
    """Two-sided p-value that two models differ on one metric value, studies paired."""
    import json

    from xgem_bench.commands._common import user_errors
    from xgem_bench.results import load_run
    from xgem_bench.stats import StatsUnavailable, compare_models
    from xgem_bench.tasks import parse_task

    with user_errors(FileNotFoundError, ValueError, KeyError, StatsUnavailable):
        loaded = [load_run(run) for run in runs]
        if key is None:
            from xgem_bench.metrics import get_metric_class
            key = get_metric_class(metric).primary
        result = compare_models(loaded, parse_task(task).name, metric, key, a, b, test, resamples, seed, level)
    typer.echo(json.dumps(result, indent=2))
