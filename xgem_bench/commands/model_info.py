"""`xgem-bench model-info --config paper|tiny`: parameter counts of the reference XGeM per component."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command("model-info")(model_info)


def model_info(config: str = typer.Option("paper", "--config", help="Configuration: paper (full size) or tiny.")) -> None:
    """Parameter counts per component, checked against the spec's figures for the published model."""
    from xgem_bench.commands._common import user_errors
    from xgem_bench.reference_model.config import get_config
    from xgem_bench.reference_model.params import PAPER_MILLIONS, PAPER_TOTAL_MILLIONS, component_counts, total
    from xgem_bench.results import format_table

    with user_errors(ValueError):
        cfg = get_config(config)
    rows = component_counts(cfg)
    paper = cfg.name == "paper"
    table = []
    for r in rows:
        line = {"component": r.component, "instances": r.instances, "params (M)": f"{r.millions:.2f}"}
        if paper:
            line.update({"spec (M)": f"{r.spec:.2f}", "match": "yes" if r.matches else "NO"})
        table.append(line)
    typer.echo(format_table(table))
    typer.echo(f"total (AutoKL and X-ray UNet counted per view): {total(rows) / 1e6:,.1f} M functional")
    if paper:
        by_name = {r.component: r for r in rows}
        typer.echo("\nper model, against the paper's section 3.3 (which includes ~1.6 B unused CoDi video weights):")
        typer.echo(format_table([{"model": name, "ours (M)": f"{sum(by_name[c].millions for c in parts):.1f}",
                                  "paper (M)": f"{figure:.1f}"} for name, (parts, figure) in PAPER_MILLIONS.items()]))
        typer.echo(f"paper total {PAPER_TOTAL_MILLIONS / 1000:.2f} B; functional total "
                   f"{total(rows) / 1e9:.2f} B (spec §1: ~5.2 B)")
        if not all(r.matches for r in rows):
            raise typer.Exit(1)
