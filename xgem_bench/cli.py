"""The `xgem-bench` command line: a thin Typer layer over the Python API (commands live in xgem_bench/commands/)."""
from __future__ import annotations

import importlib
import pkgutil

import typer

import xgem_bench.commands as commands

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Evaluate generative models of chest X-rays and radiology reports (XGeM protocol).")

for _module in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
    if _module.name.startswith("_"):  # private helpers, not commands
        continue
    importlib.import_module(f"{commands.__name__}.{_module.name}").register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
