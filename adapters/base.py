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


class Adapter(ABC):
    name: ClassVar[str]
    #: bump whenever outputs for the same inputs change; it enters the generation cache key
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    #: task names in canonical spelling, e.g. ("T->F", "L+T->F")
    tasks: ClassVar[tuple[str, ...]]
    #: weights catalog entries this adapter needs
    weights: ClassVar[tuple[str, ...]] = ()
    #: importable modules this adapter needs
    packages: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **options: Any):
        unknown = set(options) - set(self.default_options())
        if unknown:
            raise ValueError(f"adapter {self.name!r} has no option(s) {sorted(unknown)}; "
                             f"its options are {sorted(self.default_options()) or 'none'}")
        self.options: dict[str, Any] = {**self.default_options(), **options}

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        """Options a user may set (checkpoint paths, sampler settings, ...), with defaults."""
        return {}

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
        reasons = {w: r for w in self.weights if (r := weights.missing_reason(w))}
        if len(reasons) <= 1:
            return next(iter(reasons.values()), None)
        # every fix at once, not one per attempt: one fetch for all that can be downloaded
        specs = [weights.get(w) for w in reasons]
        fetchable = [s.name for s in specs if s.fetchable]
        commands = [f"xgem-bench weights fetch {' '.join(fetchable)}"] if fetchable else []
        commands += [s.fix_command for s in specs if not s.fetchable]
        return f"{len(reasons)} weights are missing ({', '.join(reasons)}); run " + "; ".join(f"`{c}`" for c in commands)

    def settings(self) -> dict[str, Any]:
        """Everything that changes outputs (sampler settings, options); enters the cache key and the results."""
        return dict(self.options)

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
