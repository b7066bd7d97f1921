"""Utility of synthetic data for training classifiers (paper §4.5, Tables 8-11, A4-A6): anonymization, class
imbalance and data scarcity, with DenseNet-121 classifiers trained under identical settings and scored on the same
real test set. `run_experiment(UtilityConfig(...))` is what `xgem-bench utility ...` calls; see docs/utility.md.

The names below load on first use, so that `xgem-bench tables` reaches `xgem_bench.utility.tables` without torch.
"""
import importlib

_WHERE = {"EXPERIMENTS": "experiments", "UtilityConfig": "experiments", "load_utility_run": "experiments",
          "run_experiment": "experiments", "utility_table": "tables", "TrainSettings": "train"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"xgem_bench.utility.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
