"""`oracle`: returns the study's own real outputs — the paper's "Real Data" row and an upper bound for every metric.

It is the one adapter that reads beyond its inputs: it looks the study up in the run's dataset by id.
"""
from __future__ import annotations

from typing import Sequence

from xgem_bench.adapters.base import AdapterContext, AnyTaskAdapter
from xgem_bench.tasks import Task


class OracleAdapter(AnyTaskAdapter):
    name = "oracle"
    description = "real outputs of the study itself (upper bound, the paper's 'Real Data' row)"

    def setup(self, context: AdapterContext) -> None:
        if context.dataset is None:
            raise ValueError("the oracle needs the run's dataset")
        self._dataset = context.dataset
        self._position = {sid: i for i, sid in enumerate(context.dataset.study_ids)}

    def generate(self, studies, task: Task, seeds: Sequence[int]):
        outputs = []
        for study in studies:
            real = self._dataset.load(self._position[study.study_id], task.outputs)
            outputs.append({m: real.get(m) for m in task.outputs})
        return outputs
