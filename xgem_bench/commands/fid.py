"""`xgem-bench fid A B --backbone inception|xrv|xrv-mimic`: FID between two image folders or manifests."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from xgem_bench.commands._common import OLD_SETTING_HELP


def register(app: typer.Typer) -> None:
    app.command("fid")(fid)


def fid(
    a: Path = typer.Argument(..., help="First image set: a folder (searched recursively), a manifest or a dataset."),
    b: Path = typer.Argument(..., help="Second image set: a folder, a manifest or a dataset (e.g. demo)."),
    backbone: str = typer.Option("inception", "--backbone", "-b", help="inception | xrv | xrv-mimic"),
    view: str = typer.Option("F", "--view", help="For datasets: which view to read (F or L)."),
    split: str = typer.Option("test", "--split", help="For datasets: the split to read ('all' for every study)."),
    ids: Optional[str] = typer.Option(None, "--ids", help="Only these studies (both sets): a file with one id per "
                                                          "line, or id1,id2,...; folders match file name stems."),
    ci: bool = typer.Option(False, "--ci", help="Interval by half-sampling both sets (FID's interval method; see docs/metrics/image.md)."),
    resamples: int = typer.Option(1000, help="Bootstrap resamples for --ci."),
    level: float = typer.Option(0.95, help="Confidence level for --ci."),
    seed: int = typer.Option(0, help="Bootstrap seed for --ci."),
    setting: Optional[List[str]] = typer.Option(None, "--setting", "-s",
                                                help="Backbone setting KEY=VALUE, e.g. layer=features, "
                                                     "variant=mimic_nb, quantize=none (repeatable)."),
    option: Optional[List[str]] = typer.Option(None, "--option", "-o", hidden=True, help=OLD_SETTING_HELP),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present), cpu, cuda, cuda:1 ..."),
    batch_size: int = typer.Option(32, "--batch-size", min=1),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """FID between two image sets with the chosen backbone; prints the value, both set sizes and the signature."""
    from xgem_bench.api import fid as fid_of_sets
    from xgem_bench.commands._common import cli_settings, user_errors
    from xgem_bench.image_sets import read_ids
    from xgem_bench.weights import WeightsMissing

    settings = cli_settings(setting, option, "backbone", owner=False)
    with user_errors(ValueError, WeightsMissing, OSError, KeyError):
        chosen = read_ids(ids)
        interval = {"n_resamples": resamples, "level": level, "seed": seed} if ci else None
        result = fid_of_sets(a, b, backbone=backbone, view=view, split=split, ids=chosen, ci=interval,
                             device=device, batch_size=batch_size, **settings)
    result.update(split=split, ids=len(chosen) if chosen else None)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    interval = result.get("interval")
    flag = "" if not interval or interval["contains_value"] else (
        f"\n† the interval is centred on the bias-corrected FID {interval['estimate']:.4f} and does not contain the "
        "finite-sample FID (biased upward at finite n; docs/metrics/image.md)")
    typer.echo(f"FID {result['fid']:.4f}"
               + (f"  [{interval['low']:.4f}, {interval['high']:.4f}]{'†' if flag else ''} ({interval['level']:.0%} "
                  f"{interval['method']}, {interval['n_resamples']} resamples)" if interval else "")
               + f"  (n_a={result['n_a']}, n_b={result['n_b']}; datasets: split {split}"
               + (f", {len(chosen)} ids" if chosen else "") + ")\n"
               f"backbone {result['backbone']}\nweights {result['weights']} sha256 {result['weights_sha256']}"
               + flag)
