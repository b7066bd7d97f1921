"""Synthetic training images, requested through the runner so that generation is cached and reproducible.

The source is a model name (an adapter: `xgem`, `oracle`, ...) or a predictions folder/CSV generated elsewhere (read
by the predictions adapter, keyed by prompt id, see `prompts.py`). Either way the runner runs the task `T->F` (or
`T->L`) on a `PromptDataset`: the report prompt goes in, the image comes out and lands in the generation cache; the
run itself is kept under `<utility run>/synthetic/<name>/` (its `pixel-mae` against the source study's real image is
a cheap sanity figure). A rerun finds the finished run and reads the cached images back.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from xgem_bench import results as store
from xgem_bench.cache import GenerationCache, study_seed
from xgem_bench.data.dataset import Dataset
from xgem_bench.tasks import Modality
from xgem_bench.utility.prompts import SPLIT, PromptDataset
from xgem_bench.distributed import barrier

PREDICTIONS_NAME = "predictions"


class SyntheticSourceError(RuntimeError):
    """The synthetic source cannot produce the images (model unavailable, predictions missing, ...)."""


@dataclass
class SyntheticImages:
    #: source position (in the real dataset) of each image: its report prompt and its labels
    sources: list[int]
    ids: list[str]
    images: list[np.ndarray]
    #: what the generation run recorded about the source (adapter, settings, checkpoint, failures)
    record: dict[str, Any]


def source_name(source: str) -> str:
    """The model name of a synthetic source, or `predictions` for a folder or CSV."""
    return PREDICTIONS_NAME if is_predictions(source) else source


def is_predictions(source: str) -> bool:
    return Path(source).expanduser().exists()


def generate(source: str, real: Dataset, sources: Sequence[int], view: Modality, out: Path, tag: str,
             seed: int = 0, model_settings: dict[str, Any] | None = None, batch_size: int = 8,
             progress: bool = True) -> SyntheticImages:
    """One `view` image per entry of `sources` (positions in `real`), from the source's generation for its report."""
    from xgem_bench.runner import RunError, Runner

    prompts = PromptDataset(real, sources)
    name = source_name(source)
    run_dir = Path(out) / tag
    if (run_dir / "results.json").exists():  # finished before: its images are in the generation cache
        results = store.load_run(run_dir)
    else:
        settings = {name: dict(model_settings)} if model_settings else None
        predictions = {name: source} if name == PREDICTIONS_NAME else None
        try:
            runner = Runner(f"T->{view.value}", models=None if predictions else [name], predictions=predictions,
                            dataset=prompts, metrics=["pixel-mae"], split=SPLIT, seed=seed, out=out, run_id=tag,
                            model_settings=settings, batch_size=batch_size, progress=progress)
            runner.run()
        except (RunError, ValueError, KeyError) as error:
            raise SyntheticSourceError(f"synthetic source {source!r}: {error}") from error
        barrier()  # under torchrun rank 0 writes the run; every rank reads it back
        results = store.load_run(run_dir)
    record = results["models"][name]
    if record["status"] != "ok":
        raise SyntheticSourceError(f"synthetic source {source!r} {record['status']}: {record['reason']}")
    cache = GenerationCache.existing(Path(record["cache_folder"]))
    kept = SyntheticImages([], [], [], {k: record.get(k) for k in ("adapter", "version", "settings", "checkpoint_id",
                                                                   "n_generated", "n_failed", "cache_key")})
    kept.record["run_dir"] = str(run_dir)
    for position, study_id in zip(prompts.sources, prompts.study_ids):
        outputs = cache.load(study_id, study_seed(seed, study_id))
        if outputs is None:  # failed for this prompt: recorded in the generation run, not trained on
            continue
        kept.sources.append(position)
        kept.ids.append(study_id)
        kept.images.append(outputs[view])
    if not kept.images:
        raise SyntheticSourceError(f"synthetic source {source!r} produced no image; see {run_dir}/generation.csv")
    return kept
