"""Helpers shared by command modules: uniform error exits and `[NAME.]KEY=VALUE` settings."""
from __future__ import annotations

from contextlib import contextmanager

import typer

from xgem_bench.settings import deprecated, parse_settings


def fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


@contextmanager
def user_errors(*types: type[BaseException]):
    """Turn expected errors (bad names, bad files, bad arguments) into a one-line message and exit code 2."""
    try:
        yield
    except types as error:
        fail(str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error))


#: the old spelling of --setting / -s, still accepted (hidden from --help)
OLD_SETTING_HELP = "Old spelling of --setting (deprecated)."


def cli_settings(new: list[str] | None, old: list[str] | None, what: str, owner: bool = True,
                 old_flag: str = "--option/-o", new_flag: str = "--setting/-s") -> dict:
    """Settings from `--setting` pairs and the deprecated `--option` ones (noted once); a bad pair exits with 2."""
    if old:
        deprecated(old_flag, new_flag)
    try:
        return parse_settings([*(new or []), *(old or [])], what, owner)
    except ValueError as error:
        fail(str(error))
