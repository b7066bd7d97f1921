"""Adapter registry: built-in adapters plus anything registered in the entry-point group `xgem_bench.adapters`."""
from __future__ import annotations

from importlib.metadata import entry_points

from xgem_bench.adapters.base import Adapter, AdapterContext
from xgem_bench.registry import load_object, unknown_name

ENTRY_POINT_GROUP = "xgem_bench.adapters"

# name -> "module:Class"; one adapter per file, imported only when used.
BUILTIN_ADAPTERS: dict[str, str] = {
    "oracle": "xgem_bench.adapters.oracle:OracleAdapter",
    "retrieval": "xgem_bench.adapters.retrieval:RetrievalAdapter",
    "shuffled": "xgem_bench.adapters.shuffled:ShuffledAdapter",
    "independent": "xgem_bench.adapters.independent:IndependentAdapter",
    "xgem": "xgem_bench.adapters.xgem:XGeMAdapter",
    "codi-xr": "xgem_bench.adapters.codi_xr:CoDiXRAdapter",
    "roentgen": "xgem_bench.adapters.roentgen:RoentGenAdapter",
    "codi": "xgem_bench.adapters.codi:CoDiAdapter",
    "cxrmate": "xgem_bench.adapters.cxrmate:CXRMateAdapter",
    "unixgen": "xgem_bench.adapters.unixgen:UniXGenAdapter",
    "llm-cxr": "xgem_bench.adapters.llm_cxr:LLMCXRAdapter",
}


def registry() -> dict[str, str]:
    """Every known adapter name -> "module:Class" (plug-ins may not shadow built-ins)."""
    found = dict(BUILTIN_ADAPTERS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTIN_ADAPTERS:
            raise RuntimeError(f"plug-in adapter {ep.name!r} ({ep.value}) clashes with a built-in adapter name")
        found[ep.name] = ep.value
    return found


def adapter_names() -> list[str]:
    return sorted(registry())


def get_adapter_class(name: str) -> type[Adapter]:
    known = registry()
    if name not in known:
        raise unknown_name("model", name, known, "Known models: " + ", ".join(sorted(known)))
    return load_object(known[name])


__all__ = ["Adapter", "AdapterContext", "BUILTIN_ADAPTERS", "ENTRY_POINT_GROUP", "adapter_names",
           "get_adapter_class", "registry"]
