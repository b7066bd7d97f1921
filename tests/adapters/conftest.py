"""Shared fixtures for adapter tests: small synthetic studies with every modality."""
import os

import numpy as np
import pytest
import torch

# Tiny models on a shared 2-core machine: one thread is ~15x faster than two oversubscribed ones.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

from adapter_fixtures import make_studies
from xgem_bench.data import InMemoryDataset


@pytest.fixture
def studies():
    return make_studies()


@pytest.fixture
def dataset(studies):
    return InMemoryDataset(studies, name="synthetic", synthetic=True)
