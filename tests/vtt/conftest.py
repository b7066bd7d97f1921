"""Two finished demo runs (L+T->F and L->F+T; retrieval and shuffled stand in for generators, with the oracle that
the sessions must leave out) shared by the VTT
tests, made once per test session in their own cache, and sessions built from them."""
from types import SimpleNamespace

import pytest

pytest.importorskip("flask", reason="the VTT platform needs the vtt extra: pip install 'xgem-bench[vtt]'")

DEMO = "demo:n=60"  # small demo: 12 test studies, built in a few seconds
MODELS = ["oracle", "retrieval", "shuffled"]  # the oracle returns real data: never a synthetic item by default


@pytest.fixture(scope="session")
def vtt_demo(tmp_path_factory):
    import xgem_bench

    cache = tmp_path_factory.mktemp("vtt-cache")
    out = tmp_path_factory.mktemp("vtt-runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XGEM_BENCH_CACHE", str(cache))
        runs = [xgem_bench.run(task, models=MODELS, dataset=DEMO, metrics="pixel-mae", out=out,
                               progress=False).run_dir for task in ("L+T->F", "L->F+T")]
    return SimpleNamespace(cache=cache, runs=runs)


@pytest.fixture
def demo_runs(vtt_demo, monkeypatch):
    """The run folders; the demo data are read from the cache they were made with."""
    monkeypatch.setenv("XGEM_BENCH_CACHE", str(vtt_demo.cache))
    return vtt_demo.runs


@pytest.fixture
def session(demo_runs, tmp_path):
    """A session of 4 items per task (2 real, 1 retrieval, 1 shuffled) for 3 raters."""
    from xgem_bench.vtt.build import create_session
    return create_session(demo_runs, tmp_path / "session.db", items=4, raters=3, seed=7, progress=False)
