"""xgem-bench: evaluation suite for generative models of chest X-rays and radiology reports."""
from __future__ import annotations

__version__ = "0.1.0"


def __getattr__(name):
    # The Python API mirrors the CLI; imported lazily so `import xgem_bench` stays light.
    if name == "run":
        from xgem_bench.runner import run
        return run
    if name in {"parse_task", "Task", "Modality"}:
        from xgem_bench import tasks
        return getattr(tasks, name)
    if name == "load_dataset":
        from xgem_bench.data import load_dataset
        return load_dataset
    raise AttributeError(name)
