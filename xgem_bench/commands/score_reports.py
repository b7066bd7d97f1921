"""`xgem-bench score-reports`: report metrics for generated reports that already exist as a CSV file."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from xgem_bench.commands._common import OLD_SETTING_HELP, cli_settings, fail, user_errors


def register(app: typer.Typer) -> None:
    app.command("score-reports")(score_reports)


def score_reports(
    hyp: Path = typer.Option(..., "--hyp", help="CSV of generated reports: header with id + report columns."),
    ref: Path = typer.Option(..., "--ref", help="CSV of reference reports, same ids (any order)."),
    metrics: Optional[str] = typer.Option(
        None, "--metrics", help="Comma-separated metric names as in `run` and `compare`: bleu, chexpert-f1, "
                                "radgraph-f1, ratescore (short forms chexpert, radgraph, rate also work), or any text "
                                "metric of `xgem-bench metrics`. Default: those four; any that cannot run here is "
                                "reported as skipped."),
    hyp_column: Optional[str] = typer.Option(None, "--hyp-column", help="Report column of --hyp (default: report, "
                                                                        "text or reports)."),
    ref_column: Optional[str] = typer.Option(None, "--ref-column", help="Report column of --ref."),
    intersect: bool = typer.Option(False, "--intersect", help="Score only the ids of --hyp when --ref holds more "
                                   "reports (a hypothesis without reference stays an error)."),
    ci: bool = typer.Option(False, "--ci", help="Bootstrap interval over reports of each metric's primary value."),
    resamples: int = typer.Option(1000, help="Bootstrap resamples for --ci."),
    level: float = typer.Option(0.95, help="Confidence level for --ci."),
    seed: int = typer.Option(0, help="Bootstrap seed for --ci."),
    per_sample: Optional[Path] = typer.Option(None, "--per-sample", help="Also write per-report values to this CSV."),
    setting: Optional[List[str]] = typer.Option(
        None, "--setting", "-s", help="Metric setting METRIC.KEY=VALUE, e.g. bleu.convention=coco-corpus."),
    option: Optional[List[str]] = typer.Option(None, "--option", "-o", hidden=True, help=OLD_SETTING_HELP),
    batch_size: int = typer.Option(64, help="Reports per scoring batch."),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:1 ... for the model-based metrics."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole result as JSON instead of a table."),
) -> None:
    """Score generated reports against reference reports; prints a table (or JSON with --json).

    Exit status 0 when every metric ran; 3 when a metric named in --metrics was skipped or failed; 2 on bad input.
    """
    from xgem_bench.api import score_reports as score
    from xgem_bench.report_scores import ReportFileError, write_per_sample

    explicit = metrics is not None
    names = [m for m in metrics.split(",") if m.strip()] if explicit else None
    if explicit and not names:
        fail("--metrics names no metric")
    with user_errors(ReportFileError, KeyError, ValueError, TypeError):
        summary, rows = score(hyp, ref, names, hyp_column=hyp_column, ref_column=ref_column, intersect=intersect,
                              ci={"n_resamples": resamples, "level": level, "seed": seed} if ci else None,
                              settings=cli_settings(setting, option, "metric"), batch_size=batch_size, device=device)
    if per_sample is not None:
        write_per_sample(rows, per_sample)
        summary["per_sample"] = str(per_sample)
    typer.echo(json.dumps(_finite(summary), indent=2, default=str) if as_json else readable(summary))
    not_run = [f"{name}: {r['reason']}" for name, r in summary["metrics"].items() if r["status"] != "ok"]
    for line in not_run:
        typer.secho(f"not scored - {line}", err=True, fg=typer.colors.YELLOW)
    if explicit and not_run:
        raise typer.Exit(3)


def readable(summary: dict) -> str:
    """One row per metric with its primary value (and interval), then each metric's overall values."""
    from xgem_bench.results import format_table

    rows, details = [], []
    for name, record in summary["metrics"].items():
        if record["status"] != "ok":
            rows.append({"metric": name, "value": record["status"], "interval": "", "key": ""})
            continue
        values = _finite(record["values"])
        interval = record.get("interval")
        rows.append({"metric": name, "key": record["primary"], "value": values.get(record["primary"]),
                     "interval": f"[{interval['low']:.4f}, {interval['high']:.4f}]" if interval
                     else record.get("interval_error", "")})
        overall = {k: v for k, v in values.items() if "/" not in k}  # per-label values: --json
        details.append(f"  {name}: " + ", ".join(f"{k}={_short(v)}" for k, v in overall.items()))
    left_out = f" ({summary['n_ref_left_out']} references without hypothesis left out)" \
        if summary.get("n_ref_left_out") else ""
    level = next((r["interval"]["level"] for r in summary["metrics"].values() if r.get("interval")), None)
    head = f"{summary['n']} reports of {summary['hyp']} against {summary['ref']}{left_out}"
    caption = f"interval: {level:.0%} percentile bootstrap over reports" if level else ""
    return "\n".join([head, format_table(rows), *([caption] if caption else []),
                      "overall values (per-label values with --json):", *details])


def _short(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _finite(value):
    """NaN (e.g. a mean over zero reports) becomes null, so the output is strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and value != value:
        return None
    return value
