"""Small runs in the results-store format, written with the store's own writer, for table/plot/stats tests."""
import numpy as np
import pytest

from xgem_bench import results as store


def make_run(root, run_id, task, models, n_studies=None):
    """models: {model: {"status": ..., "metrics": {"metric/modality": (values, per_sample, higher_is_better)}}}.

    per_sample: {study_id: {key: value}}. Returns the loaded run (as tables and stats read it).
    """
    entries, per_sample = {}, []
    for model, spec in models.items():
        metrics = {}
        for metric_key, (values, rows, higher) in spec.get("metrics", {}).items():
            metric, modality = metric_key.split("/")
            status = "ok" if values is not None else "skipped"
            metrics[metric_key] = {"metric": metric, "modality": modality, "status": status,
                                   "reason": None if values is not None else "weight 'w' is missing; run fix",
                                   "primary": next(iter(values)) if values else None, "higher_is_better": higher,
                                   "settings": spec.get("settings", {}).get(metric, {}), "signature": metric,
                                   "values": values or {}}
            for sid, keyed in (rows or {}).items():
                per_sample += [(model, sid, metric, modality, k, v) for k, v in keyed.items()]
        entries[model] = {"status": spec.get("status", "ok"), "reason": spec.get("reason"), "metrics": metrics}
    results = {"schema": store.SCHEMA_VERSION, "run_id": run_id, "created": "2026-01-01T00:00:00", "task": task,
               "dataset": {"name": "fixture", "fingerprint": "0", "split": "test", "synthetic": True,
                           "n_studies": n_studies or 0}, "seed": 0, "provenance": {}, "models": entries}
    store.write_run(root / run_id, results, per_sample, [])
    return store.load_run(root / run_id)


def mean_metric(rng, n, loc, key, higher=True, scale=0.1):
    """An aggregate that is the mean of per-study values, with its per-study rows."""
    values = rng.normal(loc, scale, size=n)
    rows = {f"s{i:03d}": {key: float(v)} for i, v in enumerate(values)}
    return {key: float(values.mean()), "n": n}, rows, higher


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
