"""Small runs in the results-store format, written with the store's own writer, for table/plot/stats tests."""
import numpy as np
import pytest

from reporting_fixtures import make_run, mean_metric


@pytest.fixture
def report_runs(tmp_path):
    """Three report-generation runs (Tables 4 and 6) with xgem, codi-xr and oracle; llm-cxr only supports F->T."""
    rng = np.random.default_rng(0)
    runs = []
    for t, task in enumerate(["F->T", "L->T", "F+L->T"]):
        models = {}
        for name, loc in [("xgem", 0.55), ("codi-xr", 0.45), ("oracle", 1.0), ("llm-cxr", 0.3)]:
            if name == "llm-cxr" and task != "F->T":
                models[name] = {"status": "skipped", "reason": f"llm-cxr does not support {task}"}
                continue
            metrics = {"radgraph-f1/T": mean_metric(rng, 20, loc + 0.01 * t, "radgraph_f1"),
                       "ratescore/T": mean_metric(rng, 20, loc + 0.1, "ratescore")}
            if name == "codi-xr":
                metrics["ratescore/T"] = (None, None, True)
            models[name] = {"metrics": metrics}
        runs.append(make_run(tmp_path, f"run-{t}", task, models))
    return runs


@pytest.fixture
def tiny_xrv(tmp_path, monkeypatch):
    """A random XRV DenseNet pickled under the official file name in torchxrayvision's cache (HOME is temporary)."""
    import torch
    import torchxrayvision as xrv

    from xgem_bench import weights
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    spec = weights.get("xrv-densenet121-res224-all")
    spec.path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.save(xrv.models.DenseNet(weights=None), spec.path)
