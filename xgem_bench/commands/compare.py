"""`xgem-bench compare RUN... --task T --metric M --key K A B`: paired test between two models on shared studies."""
from __future__ import annotations

from pathlib import Path
from typing import List

import typer


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)


def compare(runs: List[Path] = typer.Argument(..., help="Run folders or run ids holding both models' results."),
            task: str = typer.Option(..., help="Task, e.g. 'L->F+T' (quoted: > is a shell redirect)."),
            metric: str = typer.Option(..., help="Metric name, e.g. coherence-cosine."),
            key: str = typer.Option(None, help="Value key (default: the metric's primary value)."),
            a: str = typer.Option(..., "--a", help="First model (difference = A - B)."),
            b: str = typer.Option(..., "--b", help="Second model."),
            test: str = typer.Option(None, help="bootstrap (paired bootstrap) or randomisation (approximate "
                                                "randomisation); default: randomisation for FID (at fixed N: a "
                                                "resample with replacement inflates FID), bootstrap otherwise."),
            resamples: int = typer.Option(1000, help="Resamples."),
            seed: int = typer.Option(0, help="Seed."),
            level: float = typer.Option(0.95, help="Level of the interval of the difference (bootstrap)."),
            root: Path = typer.Option(Path("results"), "--root", help="Folder where run ids are looked up.")) -> None:
    """Two-sided p-value that two models differ on one metric value, studies paired."""
    import json

    from xgem_bench.api import compare as paired_test
    from xgem_bench.commands._common import user_errors
    from xgem_bench.stats import StatsUnavailable

    with user_errors(FileNotFoundError, ValueError, KeyError, StatsUnavailable):
        result = paired_test(runs, task, metric, a, b, key=key, test=test, n_resamples=resamples, seed=seed,
                             level=level, root=root)
    typer.echo(json.dumps(result, indent=2))
