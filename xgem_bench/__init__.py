"""xgem-bench: evaluation suite for generative models of chest X-rays and radiology reports.

The Python API mirrors the command line:

- `run(task, models=..., predictions=..., dataset=...)`: generate and score; returns a `RunResult`
- `fid(a, b, backbone=...)`: FID between two image sets (folders, manifests, datasets)
- `score_reports(hyp_csv, ref_csv, metrics=...)`: report metrics for reports generated elsewhere
- `tables(runs, table)`: one of the paper's tables from finished runs
- `compare(runs, task, metric, a, b)`: paired test between two models
- `load_dataset(spec)`: a dataset by name ("demo", "manifest:PATH", "mimic-cxr:DIR", "iu-xray:DIR")
- `parse_task`, `Task`, `Modality`, `RunResult`

Everything is imported on first use, so `import xgem_bench` stays light.
"""
from __future__ import annotations

__version__ = "0.1.0"

_EXPORTS = {
    "run": "xgem_bench.runner:run",
    "RunResult": "xgem_bench.runner:RunResult",
    "fid": "xgem_bench.api:fid",
    "score_reports": "xgem_bench.api:score_reports",
    "tables": "xgem_bench.api:tables",
    "compare": "xgem_bench.api:compare",
    "load_dataset": "xgem_bench.data:load_dataset",
    "parse_task": "xgem_bench.tasks:parse_task",
    "Task": "xgem_bench.tasks:Task",
    "Modality": "xgem_bench.tasks:Modality",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'xgem_bench' has no attribute {name!r}; the API is {', '.join(__all__)}")
    import importlib
    module, _, attribute = _EXPORTS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
