"""The metric protocol: explicit state, `update(samples)` per batch, `compute()` once, mergeable across ranks.

A metric instance scores one output modality of one model on one task (joint metrics score all outputs together).
Settings that change numbers are constructor keywords, declared and checked by `Configurable` (xgem_bench/settings.py),
stored in `self.settings` and written into every result.
"""
from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from xgem_bench.data.dataset import Dataset
from xgem_bench.data.study import Study
from xgem_bench.settings import Configurable
from xgem_bench.tasks import Modality, Task


@dataclass
class Sample:
    """One evaluated study: the real study (all modalities, labels) and what the model generated for it."""

    study: Study
    generated: dict[Modality, Any]


@dataclass
class MetricContext:
    """What a metric may know about the run besides the samples it is given."""

    task: Task
    modality: Modality | None  # the output modality scored; None for joint metrics
    dataset: Dataset | None = None
    split: str = "test"
    #: positions (in `dataset`) of every study evaluated in this run, on all ranks: the real reference set.
    reference_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    cache_dir: Path = Path(".")
    #: folder for large per-study artefacts (e.g. FID features, for bootstrap without re-extraction); may be None
    artifact_dir: Path | None = None
    device: str = "cpu"
    batch_size: int = 16
    #: the run's feature service (`xgem_bench.features`): one backbone pass per generated output for all metrics;
    #: None outside a run (a metric used on its own runs its backbone itself)
    features: Any = None
    #: the same model's outputs for other tasks of the same studies (`xgem_bench.cache.SiblingOutputs`), read from
    #: the generation cache, never generated; None outside a run
    siblings: Any = None

    def reference_set(self) -> "ReferenceSet":
        """The reference set of `reference_indices`, for a metric used on its own (the runner prepares it instead)."""
        return ReferenceSet(self.dataset, np.asarray(self.reference_indices), self.task.modalities)


@dataclass
class ReferenceSet:
    """The real studies generated outputs are compared with: every readable evaluated study of the run, handed by
    the runner to `Metric.prepare_reference` before `compute()`."""

    dataset: Dataset
    #: positions in `dataset`
    indices: np.ndarray
    modalities: Sequence[Modality]

    def study_ids(self, modality: Modality) -> list[str]:
        """Ids of the studies that have a real `modality`, in order."""
        available, ids = self.dataset.available(modality), self.dataset.study_ids
        return [ids[int(i)] for i in self.indices if available[int(i)]]

    def studies(self):
        for i in self.indices:
            yield self.dataset.load(int(i), self.modalities)


class MetricUnavailable(RuntimeError):
    """The metric cannot run here (missing weights or package); the message names the command that fixes it."""


_REDUCTIONS = ("sum", "extend", "max")


class Metric(Configurable, ABC):
    kind_label = "metric"
    #: "image" (one X-ray output), "text" (the report output) or "joint" (several outputs of one study)
    kind: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    #: names of entries in the weights catalog this metric needs (checked by `unavailable_reason`)
    weights: ClassVar[tuple[str, ...]] = ()
    #: the value shown first in summary tables
    primary: ClassVar[str]
    #: joint metrics: output modalities a task must have for the metric to apply (e.g. F and T)
    outputs_needed: ClassVar[tuple[Modality, ...]] = ()
    #: task names the metric is limited to (e.g. intra-study BLEU: F->T and L->T); empty: every task with its output
    tasks: ClassVar[tuple[str, ...]] = ()
    #: the paired test `compare` uses by default (`xgem_bench.stats.PAIRED_TESTS`)
    paired_test: ClassVar[str] = "bootstrap"

    def __init__(self, context: MetricContext, **settings: Any):
        self.context = context
        self.settings: dict[str, Any] = self.resolve_settings(settings)
        self._reductions: dict[str, str] = {}
        self.add_state("per_sample_rows", [], "extend")

    # ---- declaration (default_settings, allowed_settings: see Configurable) -----------------------------------------
    @classmethod
    def unavailable_reason(cls, settings: dict[str, Any] | None = None) -> str | None:
        """None when the metric can run here, else why not and the command that fixes it. Must be cheap."""
        from xgem_bench import weights
        return weights.missing_weights_reason(cls.weights)

    @property
    def signature(self) -> str:
        """A compact, complete description of how the numbers were made (sacreBLEU-style)."""
        return self.signature_of(self.name, self.settings)

    # ---- recomputation over studies (intervals, paired tests) ---------------------------------------------------
    @classmethod
    def resampleable(cls, stored, key: str):
        """Value `key` of a stored record (`xgem_bench.recompute.StoredRecord`) as a `stats.Resampleable`: one row
        per study and the statistic that rebuilds the value from any multiset of rows. Default: the mean of the
        per-study `key` this metric `record`ed; metrics whose value is not such a mean override it."""
        return stored.mean_of(key)

    # ---- state --------------------------------------------------------------------------------------------------
    def add_state(self, name: str, default: Any, reduce: str) -> None:
        if reduce not in _REDUCTIONS:
            raise ValueError(f"reduce must be one of {_REDUCTIONS}")
        setattr(self, name, copy.deepcopy(default))
        self._reductions[name] = reduce

    def state_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._reductions}

    def merge_state(self, state: dict[str, Any]) -> None:
        """Fold another rank's `state_dict()` into this one."""
        for name, reduce in self._reductions.items():
            mine, theirs = getattr(self, name), state[name]
            if reduce == "sum":
                setattr(self, name, mine + theirs)
            elif reduce == "max":
                setattr(self, name, max(mine, theirs))
            else:
                mine.extend(theirs)

    def record(self, study_id: str, **values: float) -> None:
        """Keep one study's per-sample values (used for bootstrap intervals and paired tests)."""
        self.per_sample_rows.append((study_id, values))

    def per_sample(self) -> dict[str, dict[str, float]]:
        return {sid: values for sid, values in self.per_sample_rows}

    # ---- features -----------------------------------------------------------------------------------------------
    def shared_backbone(self, backbone):
        """The run's one instance of this backbone (same signature), or `backbone` itself outside a run."""
        return self.context.features.shared(backbone) if self.context.features is not None else backbone

    def generated_features(self, backbone, samples: Sequence[Sample], modality: Modality) -> np.ndarray:
        """Features of the generated `modality` of each sample: through the run's feature service, so every metric
        of the run that asks for the same backbone shares one pass per output."""
        from xgem_bench.features import FeatureService
        images = [sample.generated[modality] for sample in samples]
        if self.context.features is None:
            return FeatureService(self.context.batch_size).features(backbone, images)
        keys = [("generated", sample.study.study_id, modality.value) for sample in samples]
        return self.context.features.features(backbone, images, keys)

    def prepare_reference(self, reference: ReferenceSet) -> None:
        """Called by the runner before `compute()` with the run's reference set; metrics that compare with real
        data (FID) build their reference statistics here."""

    # ---- protocol -----------------------------------------------------------------------------------------------
    def generated_of(self, sample: Sample):
        return sample.generated[self.context.modality]

    def reference_of(self, sample: Sample):
        return sample.study.get(self.context.modality)

    @abstractmethod
    def update(self, samples: Sequence[Sample]) -> None: ...

    @abstractmethod
    def compute(self) -> dict[str, float]:
        """Aggregate values; must include the key named by `primary`."""


class PerSampleMean(Metric):
    """A metric whose value is the mean over studies of a per-study score (subclasses define `score`)."""

    def __init__(self, context: MetricContext, **settings: Any):
        super().__init__(context, **settings)
        self.add_state("total", 0.0, "sum")
        self.add_state("count", 0, "sum")

    @abstractmethod
    def score(self, generated, reference) -> float: ...

    def update(self, samples: Sequence[Sample]) -> None:
        for sample in samples:
            value = self.score(self.generated_of(sample), self.reference_of(sample))
            self.total += value
            self.count += 1
            self.record(sample.study.study_id, **{self.primary: value})

    def compute(self) -> dict[str, float]:
        return {self.primary: self.total / self.count if self.count else float("nan"), "n": self.count}
