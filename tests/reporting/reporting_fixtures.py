"""Small runs in the results-store format, written with the store's own writer, for table/plot/stats tests
(imported by name: `from reporting_fixtures import make_run`)."""
import numpy as np

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
