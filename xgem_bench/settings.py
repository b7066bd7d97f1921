"""Settings: what a user may set on an adapter, a metric or a backbone, in one place.

`Configurable` declares the defaults (`default_settings`) and the closed sets of allowed values (`allowed_settings`),
checks given settings against both (`resolve_settings`), and writes the compact signature recorded with every result.
`parse_settings` reads the CLI's `[NAME.]KEY=VALUE` pairs; `deprecated` says once that an old spelling is going away.
"""
from __future__ import annotations

import json
import sys
from typing import Any, ClassVar, Iterable, Mapping

_noted: set[str] = set()


def deprecated(old: str, new: str) -> None:
    """Print, once per process, that `old` is an old spelling of `new` (it keeps working)."""
    if old not in _noted:
        _noted.add(old)
        print(f"note: {old} is deprecated; use {new} (same meaning)", file=sys.stderr)


class Configurable:
    """Base of adapters, metrics and backbones: declared settings, checked once, recorded as a signature."""

    name: ClassVar[str]
    #: what the component is called in messages ("adapter", "metric", "backbone")
    kind_label: ClassVar[str] = "component"

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        """Every setting a user may give (and every one that can change the numbers), with its default."""
        return {}

    @classmethod
    def allowed_settings(cls) -> dict[str, tuple]:
        """Settings restricted to a fixed set of values, with those values (shown by `metrics --json`)."""
        return {}

    @classmethod
    def resolve_settings(cls, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The defaults updated with `given`; ValueError naming the valid keys or values for anything else."""
        given = dict(given or {})
        defaults = cls.default_settings()
        unknown = set(given) - set(defaults)
        if unknown:
            raise ValueError(f"{cls.kind_label} {cls.name!r} has no setting(s) {sorted(unknown)}; "
                             f"its settings are {sorted(defaults) or 'none'}")
        settings = {**defaults, **given}
        for key, allowed in cls.allowed_settings().items():
            if settings.get(key) not in allowed:
                raise ValueError(f"{cls.kind_label} {cls.name!r}: setting {key}={settings.get(key)!r} is not one of "
                                 f"{', '.join(map(str, allowed))}")
        return settings

    @staticmethod
    def signature_of(name: str, settings: Mapping[str, Any]) -> str:
        """`name|key:value|...` with keys sorted (sacreBLEU-style): how the numbers were made, in one string."""
        return "|".join([name] + [f"{k}:{v}" for k, v in sorted(settings.items())])


def parse_settings(pairs: Iterable[str] | None, what: str, owner: bool = True) -> dict:
    """CLI pairs to settings. With `owner`: ["xgem.steps=20", "bleu.smoothing=coco"] -> {"xgem": {"steps": 20},
    "bleu": {"smoothing": "coco"}}; without: ["layer=features"] -> {"layer": "features"}. Values are read as JSON
    when they parse (20, 0.5, true, null), else kept as text. ValueError for a pair of another shape."""
    shape = "NAME.KEY=VALUE" if owner else "KEY=VALUE"
    parsed: dict = {}
    for pair in pairs or []:
        target, sep, text = pair.partition("=")
        name, dot, key = target.partition(".") if owner else ("", ".", target)
        if not sep or not key or (owner and (not name or not dot)):
            raise ValueError(f"{what} setting {pair!r} must look like {shape}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        (parsed.setdefault(name, {}) if owner else parsed)[key] = value
    return parsed
