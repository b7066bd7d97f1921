"""`xgem-bench plots RUN... --out DIR`: Figure 5 (Hamming distributions), per-pathology bars, metric-vs-task lines."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("plots")(plots)


def plots(runs: List[Path] = typer.Argument(..., help="Run folders; they are combined."),
          out: Path = typer.Option(Path("figures"), "--out", "-o", help="Folder for the figures."),
          formats: str = typer.Option("png,pdf", "--formats", help="Comma-separated: png, pdf."),
          ci: bool = typer.Option(False, "--ci", help="Draw bootstrap intervals over studies (as tables --ci)."),
          resamples: int = typer.Option(1000, help="Bootstrap resamples for --ci."),
          level: float = typer.Option(0.95, help="Confidence level for --ci."),
          seed: int = typer.Option(0, help="Bootstrap seed for --ci."),
          by: Optional[str] = typer.Option(None, "--by", help="Also draw per-stratum forest plots: pathology, view, "
                                                              "sex, age or race."),
          metric: Optional[List[str]] = typer.Option(None, "--metric", help="With --by: only these metrics.")) -> None:
    """Draw the figures the runs support (PNG and PDF)."""
    from xgem_bench.commands._common import fail, user_errors
    from xgem_bench.plots import all_plots
    from xgem_bench.results import load_run

    with user_errors(FileNotFoundError, ValueError, OSError):
        loaded = [load_run(run) for run in runs]
        settings = {"n_resamples": resamples, "level": level, "seed": seed} if ci else None
        chosen = [f.strip().lower() for f in formats.split(",") if f.strip()]
        written = all_plots(loaded, out, chosen, settings)
        if by:
            from xgem_bench.strata_views import forest_plots
            written += forest_plots(loaded, by, out, chosen, settings, metric)
    if not written:
        fail("the runs hold no successful metric values to plot")
    for path in written:
        typer.echo(str(path))
