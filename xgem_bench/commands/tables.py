"""`xgem-bench tables RUN... --table N --format latex|md|csv`: the paper's result tables from finished runs."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("tables")(tables)


def tables(runs: List[Path] = typer.Argument(..., help="Run folders or run ids (one task each); they are combined."),
           table: str = typer.Option(..., "--table", "-t", help="Paper table: 1 (ground-truth counts behind "
                                                                "Table 3), 2, 3, 4, 5, 6, 7, A1, A2; rexrank "
                                                                "(ReXrank's report-metric layout); or extended (the "
                                                                "metrics beyond the paper: KID, PRDC, FD∞, CMMD, "
                                                                "memorisation, ROUGE, METEOR, CIDEr-D)."),
           leaderboard: Optional[Path] = typer.Option(None, "--leaderboard", help="With --table rexrank: a CSV of "
                                                      "published leaderboard rows (model + ReXrank column names) "
                                                      "shown beside the runs."),
           fmt: str = typer.Option("md", "--format", "-f", help="latex, md or csv (long format, full precision)."),
           ci: bool = typer.Option(False, "--ci", help="Add confidence intervals over studies (FID: half-sampling, "
                                                       "bias-corrected; others: percentile bootstrap)."),
           ci_style: str = typer.Option("bracket", help="How --ci intervals print: bracket (\\[low, high]) or pm "
                                                        "(± half-width). An interval that misses its value is "
                                                        "always printed as \\[low, high] and flagged †."),
           with_paper: bool = typer.Option(False, "--with-paper", help="Add the paper's published values as rows."),
           all_tasks: bool = typer.Option(False, "--all-tasks", help="Keep the columns of tasks no run covers "
                                                                     "(shown as '-'); default: only tasks that ran."),
           by: Optional[str] = typer.Option(None, "--by", help="Stratify: pathology, view, sex, age or race (the "
                                                                "table's rows repeated per stratum, from the runs' "
                                                                "strata)."),
           digits: int = typer.Option(2, help="Decimals shown (latex, md)."),
           resamples: int = typer.Option(1000, help="Bootstrap resamples for --ci."),
           level: float = typer.Option(0.95, help="Confidence level for --ci."),
           seed: int = typer.Option(0, help="Bootstrap seed for --ci."),
           out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write to this file instead of stdout."),
           root: Path = typer.Option(Path("results"), "--root", help="Folder where run ids are looked up.")) -> None:
    """Build one of the paper's tables from finished runs."""
    from xgem_bench.api import tables as build
    from xgem_bench.commands._common import user_errors

    with user_errors(FileNotFoundError, ValueError, KeyError):
        settings = {"n_resamples": resamples, "level": level, "seed": seed, "style": ci_style} if ci else None
        text = build(runs, table, fmt, ci=settings, with_paper=with_paper, digits=digits, root=root,
                     all_tasks=all_tasks, by=by, leaderboard=leaderboard)
    if out is None:
        typer.echo(text, nl=False)
        return
    with user_errors(OSError):
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    typer.echo(f"wrote {out}", err=True)
