"""The adapter protocol: how any model plugs into xgem-bench.

An adapter turns inputs into outputs for the tasks it declares. It receives a batch of studies with only the task's
input modalities filled, the task, and one seed per study, and returns one dict of outputs per study:
images as float32 arrays in [0, 1] of shape (H, W) (256x256 is the canonical size), reports as `str`.
It never sees metrics or the files of the run: the runner owns caching, sharding, retries and progress.
"""
from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence

from xgem_bench.data.dataset import Dataset
from xgem_bench.data.study import Study
from xgem_bench.settings import Configurable, deprecated
from xgem_bench.tasks import PAPER_TASKS, Modality, Task, parse_task


class StudyFailure(Exception):
    """Put in place of one study's outputs when that study alone failed (time-out, missing output, ...).

    The runner records the study as failed with this message and keeps the other studies of the batch, instead of
    retrying the whole batch study by study (which, for a subprocess adapter, would relaunch the model each time).
    """


@dataclass
class AdapterContext:
    """Run-level facts an adapter may use while setting up."""

    device: str = "cpu"
    #: the dataset of the run; adapters may read its *training* split only (retrieval, shuffled baselines)
    dataset: Dataset | None = None
    train_split: str = "train"
    cache_dir: Path = Path(".")


class Adapter(Configurable, ABC):
    kind_label = "adapter"
    #: bump whenever outputs for the same inputs change; it enters the generation cache key
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    #: task names in canonical spelling, e.g. ("T->F", "L+T->F")
    tasks: ClassVar[tuple[str, ...]]
    #: weights catalog entries this adapter needs
    weights: ClassVar[tuple[str, ...]] = ()
    #: importable modules this adapter needs
    packages: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **settings: Any):
        self.settings: dict[str, Any] = self.resolve_settings(settings)

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        """Settings a user may give (checkpoint paths, sampler settings, ...), with defaults."""
        legacy = getattr(cls, "default_options", None)  # the old spelling, still honoured for plug-ins
        if legacy is not None:
            deprecated(f"{cls.__name__}.default_options()", "default_settings()")
            return legacy()
        return {}

    @property
    def options(self) -> dict[str, Any]:
        deprecated("Adapter.options", "Adapter.settings")
        return self.settings

    @classmethod
    def supported_tasks(cls) -> tuple[Task, ...]:
        return tuple(parse_task(t) for t in cls.tasks)

    @classmethod
    def supports(cls, task: Task) -> bool:
        return task in cls.supported_tasks()

    def unavailable_reason(self) -> str | None:
        """None when the adapter can run here, else why not and what fixes it. Must be cheap (no model loading)."""
        from xgem_bench import weights
        for package in self.packages:
            if importlib.util.find_spec(package) is None:
                return f"python package {package!r} is not installed"
        return weights.missing_weights_reason(self.weights)

    def recorded_settings(self) -> dict[str, Any]:
        """Everything that changes outputs (the settings, fixed conventions); enters the cache key and the results."""
        return dict(self.settings)

    def checkpoint_id(self) -> str:
        """Checksums of the weights in use; enters the cache key."""
        from xgem_bench import weights
        return ",".join(f"{w}={weights.checksum(w)}" for w in self.weights)

    def setup(self, context: AdapterContext) -> None:
        """Load models once before the first batch. The default does nothing."""

    def close(self) -> None:
        """Release what setup() acquired (driver processes, ...) once the run is done. The default does nothing."""

    def diagnostics(self) -> dict[str, Any]:
        """Counters worth keeping with the results (truncated prompts, fallbacks, ...); recorded after generation.

        Under torchrun each rank's counters are added up."""
        return {}

    @abstractmethod
    def generate(self, studies: Sequence[Study], task: Task, seeds: Sequence[int]
                 ) -> list[dict[Modality, Any] | StudyFailure]:
        """One dict per study with exactly the task's output modalities (or a StudyFailure for that study)."""


class AnyTaskAdapter(Adapter):
    """An adapter that answers every valid task (the real-data baselines); `models` lists the paper's tasks."""

    tasks = tuple(t.name for t in PAPER_TASKS)

    @classmethod
    def supports(cls, task: Task) -> bool:
        return True
