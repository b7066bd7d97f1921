"""Prompt studies: which real reports (and so which label vectors) synthetic images are asked for.

A synthetic study is requested by a label vector; the prompt that carries it is the report of a real *training* study
with exactly those labels (its report is the text the generator reads, its labels are the synthetic image's labels).
Asking for more images than there are training reports repeats reports under new ids, `<source id>~<k>`, and so new
seeds (each study's seed derives from its id): a generator draws a new image, the oracle repeats the real one.

`PromptDataset` presents these requests to the runner as an ordinary dataset (split `synthetic`), reading the source
studies lazily, so generation is cached per prompt and reproducible like any run.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Iterable, Sequence

import numpy as np

from xgem_bench.data.dataset import Dataset
from xgem_bench.data.study import Study
from xgem_bench.tasks import Modality

SPLIT = "synthetic"
REPEAT_MARK = "~"


def prompt_id(source_id: str, repeat: int) -> str:
    """The id of the `repeat`-th request made from one source study (the first keeps the source's own id, so
    predictions exported for the training split match it)."""
    return source_id if repeat == 0 else f"{source_id}{REPEAT_MARK}{repeat}"


def cycle(sources: Sequence[int], n: int, rng: np.random.Generator) -> list[int]:
    """`n` source positions: the sources in random order, again and again (each used once before any repeats)."""
    picked: list[int] = []
    while len(picked) < n and len(sources):
        picked += [int(i) for i in rng.permutation(np.asarray(sources))[: n - len(picked)]]
    return picked


class PromptDataset(Dataset):
    """Requests for synthetic studies, one per (source study, repeat), as a dataset the runner can run a task on."""

    synthetic = True

    def __init__(self, base: Dataset, sources: Sequence[int]):
        self.base = base
        self.sources = [int(i) for i in sources]
        seen: dict[int, int] = {}
        ids = []
        for i in self.sources:
            ids.append(prompt_id(base.study_ids[i], seen.get(i, 0)))
            seen[i] = seen.get(i, 0) + 1
        self._ids = ids
        self.name = f"prompts from {base.name}"

    @property
    def study_ids(self) -> list[str]:
        return list(self._ids)

    @property
    def splits(self) -> list[str]:
        return [SPLIT] * len(self._ids)

    def available(self, modality: Modality) -> np.ndarray:
        return self.base.available(modality)[np.asarray(self.sources, dtype=int)]

    def load(self, index: int, modalities: Iterable[Modality] | None = None) -> Study:
        return replace(self.base.load(self.sources[index], modalities), study_id=self._ids[index], split=SPLIT)

    def content_digest(self) -> str:
        digest = hashlib.sha256(self.base.fingerprint().encode())
        digest.update("|".join(self._ids).encode())
        return digest.hexdigest()

    @property
    def subject_ids(self) -> list[str]:
        subjects = self.base.subject_ids
        return [subjects[i] for i in self.sources]

    @property
    def study_datetimes(self) -> list[str]:
        times = self.base.study_datetimes
        return [times[i] for i in self.sources]
