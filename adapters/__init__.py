"""Adapters by name: the built-ins plus anything registered in the entry-point group `xgem_bench.adapters`
(the generic registry of xgem_bench/registry.py)."""
from __future__ import annotations

from xgem_bench.adapters.base import Adapter, AdapterContext
from xgem_bench.registry import Registry

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


ADAPTERS = Registry("model", ENTRY_POINT_GROUP, BUILTIN_ADAPTERS)


def registry() -> dict[str, str]:
    """Every known adapter name -> "module:Class" (plug-ins may not shadow built-ins)."""
    return ADAPTERS.entries()


def adapter_names() -> list[str]:
    return ADAPTERS.names()


def get_adapter_class(name: str) -> type[Adapter]:
    return ADAPTERS.load(name)


__all__ = ["ADAPTERS", "Adapter", "AdapterContext", "BUILTIN_ADAPTERS", "ENTRY_POINT_GROUP", "adapter_names",
           "get_adapter_class", "registry"]
