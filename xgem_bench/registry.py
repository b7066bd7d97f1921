"""Shared pieces of the lazy registries (metrics, adapters, weights): name look-up with suggestions, lazy import."""
from __future__ import annotations

import difflib
import importlib
from typing import Iterable


def unknown_name(what: str, name: str, known: Iterable[str], listing: str | None = None) -> KeyError:
    """A KeyError that suggests the closest valid names and says where the full list is."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return KeyError(f"unknown {what} {name!r}.{hint} {listing or 'Known: ' + ', '.join(known)}")


def load_object(spec: str):
    """Import "package.module:Attribute" and return the attribute."""
    module, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module), attribute)
