"""Worker launched by test_utility_distributed.py under torchrun: one anonymization run across two processes."""
import sys

from utility_fixtures import CLASSES, tiny_dataset

from xgem_bench.utility import TrainSettings, UtilityConfig, run_experiment

config = UtilityConfig("anonymization", real="tiny", synthetic="oracle", classes=CLASSES, seeds=1, n_resamples=10,
                       train=TrainSettings(image_size=32, max_epochs=1, batch_size=8, patience=1))
results = run_experiment(config, out=sys.argv[1], run_id="two-ranks", progress=False, dataset=tiny_dataset())
print(f"rank done, world={results['provenance']['world_size']}")
