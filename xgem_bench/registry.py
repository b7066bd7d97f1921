"""One registry for everything a name selects: adapters (`--model`), metrics, datasets and weight catalogs.

Each `Registry` holds the built-in names ("package.module:Attribute", imported only when used) and reads the
entry-point group third-party packages register in, so a plug-in adds an adapter, a metric, a dataset reader or its
weights with one line of its pyproject.toml:

    [project.entry-points."xgem_bench.metrics"]
    my-metric = "my_package.metric:MyMetric"

A plug-in may not take a built-in name. An unknown name fails with the closest valid names (docs/plugins.md).
CLI commands are discovered apart (every module of xgem_bench/commands/ registers its own), not through here.
"""
from __future__ import annotations

import difflib
import importlib
import sys
from typing import Any, Callable, Iterable, Mapping


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """" Did you mean a, b?" with the closest valid names, or "" when none is close."""
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.4)
    return f" Did you mean {', '.join(close)}?" if close else ""


def unknown_name(what: str, name: str, known: Iterable[str], listing: str | None = None) -> KeyError:
    """A KeyError that suggests the closest valid names and says where the full list is."""
    known = sorted(known)
    return KeyError(f"unknown {what} {name!r}.{did_you_mean(name, known)} {listing or 'Known: ' + ', '.join(known)}")


def load_object(spec: str, default_attribute: str | None = None):
    """Import "package.module:Attribute" (or "package.module", taking `default_attribute`) and return the attribute."""
    module, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module), attribute or default_attribute)


class Registry:
    """Names -> "module:Attribute" from built-ins plus one entry-point group, loaded lazily."""

    def __init__(self, what: str, group: str, builtins: Mapping[str, str] | Callable[[], Mapping[str, str]],
                 listing: str | None = None, default_attribute: str | None = None):
        #: what a name selects, in messages ("metric", "model", "dataset", "weights catalog")
        self.what, self.group, self.listing = what, group, listing
        self.default_attribute = default_attribute
        self._builtins = builtins  # a mapping (tests may patch it) or a function listing them
        self._plugins: tuple[tuple[str, ...], dict[str, str]] | None = None

    @property
    def builtins(self) -> Mapping[str, str]:
        return self._builtins() if callable(self._builtins) else self._builtins

    def plugins(self, fresh: bool = False) -> dict[str, str]:
        """The entry points of this registry's group: read once per interpreter path (a metadata scan costs ~30 ms)."""
        from importlib.metadata import entry_points
        key = tuple(sys.path)
        if fresh or self._plugins is None or self._plugins[0] != key:
            self._plugins = key, {ep.name: ep.value for ep in entry_points(group=self.group)}
        return self._plugins[1]

    def entries(self, fresh: bool = False) -> dict[str, str]:
        """Every name -> "module:Attribute", built-ins first; a plug-in that takes a built-in name is an error."""
        found = dict(self.builtins)
        for name, value in self.plugins(fresh).items():
            if name in found:
                raise RuntimeError(f"plug-in {self.what} {name!r} ({value}) clashes with a built-in {self.what} name")
            found[name] = value
        return found

    def names(self) -> list[str]:
        return sorted(self.entries())

    def unknown(self, name: str) -> KeyError:
        known = self.entries()
        return unknown_name(self.what, name, known, self.listing or f"Known {self.what}s: {', '.join(sorted(known))}")

    def load(self, name: str, fresh: bool = False) -> Any:
        """The object registered as `name` (imported now); KeyError with suggestions for an unknown name."""
        known = self.entries(fresh)
        if name not in known:
            raise self.unknown(name)
        return load_object(known[name], self.default_attribute)
