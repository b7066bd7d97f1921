"""Shared fixtures for adapter tests: small synthetic studies with every modality."""
import numpy as np
import pytest

from xgem_bench.data import InMemoryDataset, Study


def make_studies(n: int = 3, size: int = 256) -> list[Study]:
    rng = np.random.default_rng(0)
    reports = ["no acute cardiopulmonary process.", "small left pleural effusion.", "mild cardiomegaly."]
    return [Study(study_id=f"s{i}", subject_id=f"p{i}", frontal=rng.random((size, size), dtype=np.float32),
                  lateral=rng.random((size, size), dtype=np.float32), report=reports[i % len(reports)])
            for i in range(n)]


@pytest.fixture
def studies():
    return make_studies()


@pytest.fixture
def dataset(studies):
    return InMemoryDataset(studies, name="synthetic", synthetic=True)
