"""`shuffled`: the real outputs of another, randomly chosen training study — a negative control.

Outputs are real data (so distribution metrics such as FID stay near the real level) but unrelated to the study, so
paired metrics (BLEU, label F1, coherence) fall to chance level. The pick is seeded per study.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from xgem_bench.adapters.base import AdapterContext, AnyTaskAdapter
from xgem_bench.tasks import Task


def training_indices(context: AdapterContext) -> np.ndarray:
    if context.dataset is None:
        raise ValueError("this baseline needs the run's dataset")
    indices = context.dataset.indices(context.train_split)
    if len(indices) == 0:
        raise ValueError(f"dataset {context.dataset.name!r} has no studies in split {context.train_split!r}")
    return indices


class ShuffledAdapter(AnyTaskAdapter):
    name = "shuffled"
    description = "real outputs of a random training study (negative control)"

    def setup(self, context: AdapterContext) -> None:
        self._dataset = context.dataset
        self._pool = {}  # output modalities -> training indices that have all of them
        self._train = training_indices(context)

    def _candidates(self, task: Task) -> np.ndarray:
        if task.outputs not in self._pool:
            mask = np.ones(len(self._train), dtype=bool)
            for modality in task.outputs:
                mask &= self._dataset.available(modality)[self._train]
            self._pool[task.outputs] = self._train[mask]
        return self._pool[task.outputs]

    def generate(self, studies, task: Task, seeds: Sequence[int]):
        candidates = self._candidates(task)
        outputs = []
        for study, seed in zip(studies, seeds):
            rng = np.random.default_rng(seed)
            pick = int(rng.integers(len(candidates)))
            donor = self._dataset.load(int(candidates[pick]), task.outputs)
            if donor.study_id == study.study_id and len(candidates) > 1:  # never the study itself
                donor = self._dataset.load(int(candidates[(pick + 1) % len(candidates)]), task.outputs)
            outputs.append({m: donor.get(m) for m in task.outputs})
        return outputs
