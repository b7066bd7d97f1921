"""Worker launched by test_distributed.py under torchrun: the image and joint metrics of one run sharded across ranks
(argv: out, cache, coherence encoder folder)."""
import sys

from core_fixtures import labelled_dataset

from xgem_bench.adapters import BUILTIN_ADAPTERS
from xgem_bench.runner import run

BUILTIN_ADAPTERS["flaky"] = "core_fixtures:FlakyAdapter"
IMAGE_MODELS = ["oracle", "flaky"]  # flaky's noise images are far from the real ones: an FID well above its noise
IMAGE_METRICS = ["fid-xrv", "xrv-classification", "hamming", "coherence-cosine"]

if __name__ == "__main__":
    out, cache, encoder = sys.argv[1:4]
    result = run("L->F+T", models=IMAGE_MODELS, dataset=labelled_dataset(8), split="all", out=out,
                 cache_dir=cache, run_id="sharded", batch_size=3, progress=False, device="cpu",
                 metrics=IMAGE_METRICS, metric_settings={"coherence-cosine": {"encoder": encoder}})
    print(f"rank done, wrote={result.run_dir is not None}")
