"""Helpers of the adapter tests, imported by name (`from adapter_fixtures import make_studies`)."""
import numpy as np

from xgem_bench.data import Study


def make_studies(n: int = 3, size: int = 256) -> list[Study]:
    rng = np.random.default_rng(0)
    reports = ["no acute cardiopulmonary process.", "small left pleural effusion.", "mild cardiomegaly."]
    return [Study(study_id=f"s{i}", subject_id=f"p{i}", frontal=rng.random((size, size), dtype=np.float32),
                  lateral=rng.random((size, size), dtype=np.float32), report=reports[i % len(reports)])
            for i in range(n)]
