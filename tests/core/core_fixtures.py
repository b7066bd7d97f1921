"""Small deterministic datasets and test-only adapters for the runner tests (imported by test modules)."""
from __future__ import annotations

import os
import time

import numpy as np

from xgem_bench.adapters.base import Adapter, StudyFailure
from xgem_bench.data import InMemoryDataset, Study
from xgem_bench.tasks import PAPER_TASKS

REPORTS = ["no acute cardiopulmonary process", "large right pleural effusion", "mild cardiomegaly",
           "small left pneumothorax", "clear lungs no effusion"]


def tiny_dataset(n: int = 24, seed: int = 0, size: int = 64) -> InMemoryDataset:
    """Studies with smooth random images and real-looking reports; splits train/test alternate by subject."""
    rng = np.random.default_rng(seed)
    studies = []
    for i in range(n):
        base = rng.random((8, 8)).astype(np.float32)
        frontal = np.kron(base, np.ones((size // 8, size // 8), dtype=np.float32))
        lateral = np.clip(frontal[:, ::-1] * 0.8 + 0.1, 0, 1)
        studies.append(Study(study_id=f"s{i:03d}", subject_id=f"p{i // 2}", frontal=frontal, lateral=lateral,
                             report=REPORTS[i % len(REPORTS)], split="train" if (i // 2) % 2 == 0 else "test"))
    return InMemoryDataset(studies, name="tiny-test")


def labelled_dataset(n: int = 16, seed: int = 0) -> InMemoryDataset:
    """`tiny_dataset` with random 1 / 0 / -1 / blank labels on the ten paper pathologies (for xrv-classification)."""
    from dataclasses import replace

    from xgem_bench.data.study import PAPER_PATHOLOGIES
    rng = np.random.default_rng(seed + 1)
    studies, plain = [], tiny_dataset(n, seed)
    for study in (plain.load(i) for i in range(len(plain))):
        values = rng.choice([1.0, 0.0, -1.0, np.nan], size=len(PAPER_PATHOLOGIES), p=[0.35, 0.35, 0.1, 0.2])
        labels = {k: float(v) for k, v in zip(PAPER_PATHOLOGIES, values) if not np.isnan(v)}
        studies.append(replace(study, labels=labels))
    return InMemoryDataset(studies, name="tiny-labelled")


class FlakyAdapter(Adapter):
    """Raises on ids ending in '3', reports a StudyFailure for '7', returns invalid outputs for '5'."""

    name = "flaky"
    tasks = tuple(t.name for t in PAPER_TASKS)
    calls: list[str] = []

    def diagnostics(self):
        return {"studies_seen": len(getattr(self, "_seen", ()))}

    def generate(self, studies, task, seeds):
        FlakyAdapter.calls.extend(s.study_id for s in studies)
        self._seen = getattr(self, "_seen", set()) | {s.study_id for s in studies}
        out = []
        for study, seed in zip(studies, seeds):
            if study.study_id.endswith("3"):
                raise RuntimeError(f"cannot generate {study.study_id}")
            if study.study_id.endswith("7"):
                out.append(StudyFailure(f"no output for {study.study_id}"))
                continue
            rng = np.random.default_rng(seed)
            values = {}
            for m in task.outputs:
                values[m] = ("report " + str(seed)) if not m.is_image else rng.random((64, 64), dtype=np.float32)
            if study.study_id.endswith("5"):
                values = {m: (np.full((4, 4), 2.0, np.float32) if m.is_image else 3) for m in task.outputs}
            out.append(values)
        return out


class CountingAdapter(Adapter):
    """Deterministic noise images and reports; records every study it generates (to prove what came from cache).

    In another process: $COUNTING_LOG names a file that gets one line per study asked for, and $COUNTING_DELAY
    seconds of sleep per study make a batch last long enough to be killed in the middle of.
    """

    name = "counting"
    tasks = tuple(t.name for t in PAPER_TASKS)
    calls: list[str] = []

    def generate(self, studies, task, seeds):
        CountingAdapter.calls.extend(s.study_id for s in studies)
        if os.environ.get("COUNTING_LOG"):
            for study in studies:
                with open(os.environ["COUNTING_LOG"], "a") as log:
                    log.write(study.study_id + "\n")
                time.sleep(float(os.environ.get("COUNTING_DELAY", "0")))
        return [{m: f"report {seed}" if not m.is_image else np.random.default_rng(seed).random((64, 64), np.float32)
                 for m in task.outputs} for seed in seeds]
