"""Dataset contract: an indexable collection of Studies whose pixels are loaded only when a study is asked for."""
from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import Iterable, Sequence

import numpy as np

from xgem_bench.data.study import Study
from xgem_bench.tasks import Modality


class Dataset(ABC):
    """Subclasses know, without reading pixels, which studies have which modality (so tasks can filter cheaply)."""

    name: str = "dataset"
    #: True for generated/phantom data: results on it must never be mistaken for results on real patients.
    synthetic: bool = False

    @property
    @abstractmethod
    def study_ids(self) -> list[str]: ...

    @property
    @abstractmethod
    def splits(self) -> list[str]:
        """The split of each study, aligned with study_ids."""

    @abstractmethod
    def available(self, modality: Modality) -> np.ndarray:
        """Boolean mask over studies: the modality is present (path set / report non-empty)."""

    @abstractmethod
    def load(self, index: int, modalities: Iterable[Modality] | None = None) -> Study:
        """The study at position `index`, images decoded to float32 [0, 1].

        `modalities`: the ones the caller needs; a reader may leave the others None instead of decoding them (so an
        unreadable lateral does not drop a study evaluated on T->F). None: all.
        """

    @abstractmethod
    def content_digest(self) -> str:
        """A stable digest of everything that defines the data (ids, paths or pixels, reports, labels)."""

    @property
    def subject_ids(self) -> list[str]:
        """The subject of each study, aligned with study_ids (subclasses answer without reading pixels)."""
        return [self.load(i, ()).subject_id for i in range(len(self))]

    @property
    def study_datetimes(self) -> list[str]:
        """When each study was acquired ("" = unknown), aligned with study_ids; orders a subject's studies."""
        return [self.load(i, ()).study_datetime for i in range(len(self))]

    def __len__(self) -> int:
        return len(self.study_ids)

    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.name}|{self.content_digest()}".encode()).hexdigest()[:16]

    def indices(self, split: str | None = None) -> np.ndarray:
        if split is None or split == "all":
            return np.arange(len(self))
        known = sorted(set(self.splits))
        if split not in known:
            raise ValueError(f"dataset {self.name!r} has no split {split!r}; its splits are {known}")
        return np.flatnonzero(np.asarray(self.splits) == split)


class InMemoryDataset(Dataset):
    """Studies already in memory: for tests, notebooks and small user-built sets."""

    def __init__(self, studies: Sequence[Study], name: str = "in-memory", synthetic: bool = False):
        ids = [s.study_id for s in studies]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
            raise ValueError(f"duplicate study ids: {dup}")
        self._studies = list(studies)
        self.name = name
        self.synthetic = synthetic

    @property
    def study_ids(self) -> list[str]:
        return [s.study_id for s in self._studies]

    @property
    def splits(self) -> list[str]:
        return [s.split for s in self._studies]

    def available(self, modality: Modality) -> np.ndarray:
        return np.array([s.has(modality) for s in self._studies], dtype=bool)

    def load(self, index: int, modalities: Iterable[Modality] | None = None) -> Study:
        return self._studies[index]  # already decoded: nothing to save

    def content_digest(self) -> str:
        h = hashlib.sha256()
        for s in self._studies:
            h.update(f"{s.study_id}|{s.subject_id}|{s.split}|{s.report}|{sorted(s.labels.items())}".encode())
            if s.frontal_view or s.sources or s.study_datetime:
                h.update(f"{s.frontal_view}|{sorted(s.sources.items())}|{s.study_datetime}".encode())
            for image in (s.frontal, s.lateral):
                h.update(b"-" if image is None else np.ascontiguousarray(image, dtype=np.float32).tobytes())
        return h.hexdigest()
