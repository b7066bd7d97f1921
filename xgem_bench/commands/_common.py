"""Helpers shared by command modules: uniform error exits and `key=value` option parsing."""
from __future__ import annotations

import json
from contextlib import contextmanager

import typer


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


def parse_options(pairs: list[str] | None, what: str) -> dict[str, dict]:
    """["xgem.steps=20", "bleu.smoothing=coco"] -> {"xgem": {"steps": 20}, "bleu": {"smoothing": "coco"}}."""
    options: dict[str, dict] = {}
    for pair in pairs or []:
        target, _, value = pair.partition("=")
        owner, _, key = target.partition(".")
        if not owner or not key or not _:
            fail(f"{what} option {pair!r} must look like NAME.KEY=VALUE")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        options.setdefault(owner, {})[key] = parsed
    return options
