"""Every built-in adapter: declaration checks pass; those that can run here pass the whole conformance check; those
that cannot say why, with the command or option that fixes it, instead of running on anything else."""
import dataclasses

import pytest

from adapter_fixtures import make_studies
from xgem_bench.adapters import BUILTIN_ADAPTERS, get_adapter_class
from xgem_bench.adapters.conformance import check_adapter
from xgem_bench.data import InMemoryDataset


@pytest.fixture(scope="module")
def split_dataset():
    studies = make_studies(6)
    studies = [dataclasses.replace(s, split="train" if i < 3 else "test") for i, s in enumerate(studies)]
    return InMemoryDataset(studies, name="synthetic-splits", synthetic=True)


@pytest.mark.parametrize("name", sorted(BUILTIN_ADAPTERS))
def test_builtin_adapter(name, split_dataset):
    adapter = get_adapter_class(name)()
    report = check_adapter(adapter, split_dataset, n_studies=2)
    failed = report.failures()
    if adapter.unavailable_reason() is None:
        assert report.ok, report.render()
    else:
        assert [c.name for c in failed] == ["available"], report.render()
        assert "xgem-bench " in failed[0].detail or " -o " in failed[0].detail or "catalog" in failed[0].detail
