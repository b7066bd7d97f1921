"""Worker launched by test_distributed.py under torchrun: one run sharded across ranks."""
import sys

from core_fixtures import tiny_dataset

from xgem_bench.adapters import BUILTIN_ADAPTERS
from xgem_bench.runner import run

BUILTIN_ADAPTERS["flaky"] = "core_fixtures:FlakyAdapter"
out, cache = sys.argv[1], sys.argv[2]
result = run("L->F+T", models=["oracle", "shuffled", "flaky"], dataset=tiny_dataset(40), split="all", out=out,
             cache_dir=cache, run_id="sharded", batch_size=3, progress=False,
             metrics=["pixel-mae", "token-f1", "bleu", "chexpert-f1"])
print(f"rank done, wrote={result.run_dir is not None}")
