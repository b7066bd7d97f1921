"""`xgem-bench run`: generate with every chosen model on a task and score with every chosen metric."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from xgem_bench.commands._common import OLD_SETTING_HELP, cli_settings, fail, user_errors


def register(app: typer.Typer) -> None:
    app.command("run")(run)


def run(
    task: str = typer.Option(..., "--task", "-t", help="Task such as 'L+T->F', quoted ('>' is a shell redirect); "
                                                       "see `xgem-bench tasks`."),
    model: Optional[List[str]] = typer.Option(
        None, "--model", "-m", help="Model(s); default: all that support the task (none when --predictions is given)."),
    predictions: Optional[List[str]] = typer.Option(
        None, "--predictions", "-p", help="NAME=PATH: outputs generated elsewhere, scored as model NAME (repeatable). "
                                          "PATH: a folder (<study_id>.png; F/ and L/ for two images; reports.csv) or "
                                          "a CSV (study_id, frontal, lateral, report; -s NAME.report_column=...)."),
    dataset: str = typer.Option("demo", help="demo | manifest:PATH | mimic-cxr:DIR | iu-xray:DIR | a manifest file."),
    metrics: Optional[List[str]] = typer.Option(None, "--metrics", help="Metric(s); default: all for the task's outputs."),
    split: str = typer.Option("test", help="Dataset split to evaluate ('all' for every study)."),
    limit: Optional[int] = typer.Option(None, help="Evaluate only the first N eligible studies."),
    seed: int = typer.Option(0, help="Base seed; each study's seed derives from it and the study id."),
    out: Path = typer.Option(Path("results"), help="Folder that receives results/<run-id>/."),
    force: bool = typer.Option(False, "--force", help="Regenerate even when cached outputs exist."),
    batch_size: int = typer.Option(8, help="Studies per generation and scoring batch."),
    setting: Optional[List[str]] = typer.Option(None, "--setting", "-s", help="Model setting MODEL.KEY=VALUE."),
    metric_setting: Optional[List[str]] = typer.Option(None, help="Metric setting METRIC.KEY=VALUE."),
    option: Optional[List[str]] = typer.Option(None, "--option", "-o", hidden=True, help=OLD_SETTING_HELP),
    metric_option: Optional[List[str]] = typer.Option(None, hidden=True, help="Old spelling of --metric-setting."),
    run_id: Optional[str] = typer.Option(None, help="Name of the run folder (default: time + task)."),
    device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:1 ... (default: GPU when there is one)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    allow_demo_backbone: bool = typer.Option(False, "--allow-demo-backbone",
                                             help="Allow variant=demo (the demo-trained stand-in for XRV) on data "
                                                  "other than the demo."),
) -> None:
    """Run models on a task over a dataset and write results/<run-id>/."""
    from xgem_bench.results import format_table, summary_rows
    from xgem_bench.runner import RunError, Runner
    from xgem_bench.tasks import TaskError

    with user_errors(KeyError, ValueError, RunError, TaskError, FileNotFoundError):
        runner = Runner(task, models=model, predictions=parse_predictions(predictions), dataset=dataset,
                        metrics=metrics, split=split, limit=limit, seed=seed, out=out, force=force, batch_size=batch_size,
                        model_settings=cli_settings(setting, option, "model"),
                        metric_settings=cli_settings(metric_setting, metric_option, "metric",
                                                     old_flag="--metric-option", new_flag="--metric-setting"),
                        run_id=run_id, device=device, progress=not quiet, allow_demo_backbone=allow_demo_backbone)
        result = runner.run()
    if result.run_dir is None:  # not rank 0
        return
    res = result.results
    data = res["dataset"]
    typer.echo(f"\nTask {res['task']} on {data['name']} (split {data['split']}): {data['n_evaluated']} studies "
               f"evaluated, {sum(data['missing_modality'].values())} modality gaps skipped")
    if data["synthetic"]:
        typer.secho("SYNTHETIC data: these numbers test the pipeline; they say nothing about real patients.",
                    fg=typer.colors.YELLOW)
    from xgem_bench.data.mimic import split_note
    note = split_note(data["name"], [e.get("checkpoint_id") for e in res["models"].values()])
    if note:
        typer.secho(f"note: {note}", fg=typer.colors.YELLOW)
    typer.echo(format_table(summary_rows(res)))
    backbones: dict[str, set[str]] = {}  # stand-in backbones (the demo's), named beside their metrics
    for entry in res["models"].values():
        for key, metric in entry["metrics"].items():
            if metric.get("backbone"):
                backbones.setdefault(metric["backbone"], set()).add(key)
    for label, keys in backbones.items():
        typer.secho(f"{', '.join(sorted(keys))}: {label}", fg=typer.colors.YELLOW)
    metric_notes: dict[tuple[str, str, str], list[str]] = {}
    for name, entry in res["models"].items():
        if entry["status"] != "ok":
            typer.echo(f"  {name}: {entry['status']} - {entry['reason']}")
        elif entry["n_failed"]:
            typer.echo(f"  {name}: {entry['n_failed']} studies failed (see generation.csv)")
        if any(entry.get("diagnostics", {}).values()):  # e.g. llm-cxr's exhausted image retries
            typer.echo(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in entry["diagnostics"].items()))
        for key, metric in entry["metrics"].items():
            if metric["status"] != "ok":
                metric_notes.setdefault((key, metric["status"], metric["reason"]), []).append(name)
    for (key, status, reason), names in metric_notes.items():  # one line per metric problem, not per model
        typer.echo(f"  {key}: {status} for {', '.join(names)} - {reason}")
    typer.echo(f"\nResults written to {result.run_dir}")
    if data["n_unreadable"]:
        unreadable = sorted({f"{r['study_id']}" for r in _unreadable_rows(result.run_dir)})
        typer.secho(f"error: {data['n_unreadable']} studies have unreadable inputs and were left out: "
                    f"{', '.join(unreadable[:5])}{' ...' if len(unreadable) > 5 else ''} "
                    f"(messages in {result.run_dir / 'generation.csv'}); fix or remove them and run again: "
                    "generated outputs are cached", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)


def parse_predictions(pairs: list[str] | None) -> dict[str, Path]:
    """["mine=out/", "theirs=preds.csv"] -> {"mine": Path("out"), "theirs": Path("preds.csv")}."""
    found: dict[str, Path] = {}
    for pair in pairs or []:
        name, sep, path = pair.partition("=")
        if not sep or not name.strip() or not path.strip():
            fail(f"--predictions {pair!r} must look like NAME=PATH, e.g. --predictions mine=outputs/")
        if name.strip() in found:
            fail(f"--predictions names {name.strip()!r} twice")
        found[name.strip()] = Path(path.strip())
    return found


def _unreadable_rows(run_dir: Path) -> list[dict]:
    import csv
    with open(run_dir / "generation.csv", newline="") as f:
        return [row for row in csv.DictReader(f) if row["status"] == "unreadable"]
