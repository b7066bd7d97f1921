"""`xgem-bench score-reports`: report metrics for generated reports that already exist as a CSV file."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from xgem_bench.commands._common import fail, parse_options, user_errors


def register(app: typer.Typer) -> None:
    app.command("score-reports")(score_reports)


def score_reports(
    hyp: Path = typer.Option(..., "--hyp", help="CSV of generated reports: header with id + report columns."),
    ref: Path = typer.Option(..., "--ref", help="CSV of reference reports, same ids (any order)."),
    metrics: Optional[str] = typer.Option(
        None, "--metrics", help="Comma-separated: bleu, chexpert, radgraph, rate (or any text metric's registry "
                                "name). Default: all four; those that cannot run here are reported as skipped."),
    per_sample: Optional[Path] = typer.Option(None, "--per-sample", help="Also write per-report values to this CSV."),
    option: Optional[List[str]] = typer.Option(
        None, "--option", "-o", help="Metric setting METRIC.KEY=VALUE, e.g. bleu.convention=coco-corpus."),
    batch_size: int = typer.Option(64, help="Reports per scoring batch."),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:1 ... for the model-based metrics."),
) -> None:
    """Score generated reports against reference reports and print the results as JSON.

    Exit status 0 when every metric ran; 3 when a metric named in --metrics was skipped or failed; 2 on bad input.
    """
    from xgem_bench.report_scores import (ReportFileError, match_reports, read_reports_csv, score_reports as score,
                                          write_per_sample)

    explicit = metrics is not None
    names = [m for m in metrics.split(",") if m.strip()] if explicit else None
    if explicit and not names:
        fail("--metrics names no metric")
    with user_errors(ReportFileError, KeyError, ValueError, TypeError):
        pairs = match_reports(read_reports_csv(hyp), read_reports_csv(ref), hyp_name=str(hyp), ref_name=str(ref))
        summary, rows = score(pairs, names, settings=parse_options(option, "metric"), batch_size=batch_size,
                              device=device)
    summary = {"hyp": str(hyp), "ref": str(ref), **summary}
    if per_sample is not None:
        write_per_sample(rows, per_sample)
        summary["per_sample"] = str(per_sample)
    typer.echo(json.dumps(_finite(summary), indent=2, default=str))
    not_run = [f"{name}: {r['reason']}" for name, r in summary["metrics"].items() if r["status"] != "ok"]
    for line in not_run:
        typer.secho(f"not scored - {line}", err=True, fg=typer.colors.YELLOW)
    if explicit and not_run:
        raise typer.Exit(3)


def _finite(value):
    """NaN (e.g. a mean over zero reports) becomes null, so the output is strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and value != value:
        return None
    return value
