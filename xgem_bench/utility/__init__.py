"""Utility of synthetic data for training classifiers (paper §4.5, Tables 8-11, A4-A6): anonymization, class
imbalance and data scarcity, with DenseNet-121 classifiers trained under identical settings and scored on the same
real test set. `run_experiment(UtilityConfig(...))` is what `xgem-bench utility ...` calls; see docs/utility.md.
"""
from xgem_bench.utility.experiments import EXPERIMENTS, UtilityConfig, load_utility_run, run_experiment
from xgem_bench.utility.tables import utility_table
from xgem_bench.utility.train import TrainSettings

__all__ = ["EXPERIMENTS", "TrainSettings", "UtilityConfig", "load_utility_run", "run_experiment", "utility_table"]
