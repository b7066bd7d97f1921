"""Test-wide settings: fully offline (a hub look-up would otherwise retry for ~50 s), caches in temporary folders."""
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own xgem-bench cache, so nothing leaks into (or reads from) the user's home cache."""
    monkeypatch.setenv("XGEM_BENCH_CACHE", str(tmp_path_factory.mktemp("xgem-cache")))
    monkeypatch.setenv("XGEM_BENCH_WEIGHTS", str(tmp_path_factory.mktemp("xgem-weights")))
    from xgem_bench import weights
    weights.catalog.cache_clear()
