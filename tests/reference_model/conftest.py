"""Fixtures of the reference-model tests: a small study set with visible structure, and the tiny configuration
shrunk further so that every stage trains in seconds."""
import pytest

from refmodel_fixtures import fast_config, toy_studies
from xgem_bench.data.dataset import InMemoryDataset


@pytest.fixture
def one_thread():
    """torch on one thread for the test (faster on a loaded 2-core machine), restored after."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def toy_dataset():
    return InMemoryDataset(toy_studies(), name="toy", synthetic=True)


@pytest.fixture(scope="session")
def trained_tiny(toy_dataset, tmp_path_factory):
    """Both variants trained end to end on the toy studies (the checkpoint folder), once per session."""
    import torch

    import xgem_bench.reference_model.config as config_module
    from xgem_bench.reference_model.training import train_all

    root = tmp_path_factory.mktemp("xgem-tiny")
    presets = dict(config_module.PRESETS)
    config_module.PRESETS["tiny"] = fast_config
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        timings = train_all(root, "tiny", toy_dataset, variants=("xgem", "codi-xr"), progress=False,
                            log=lambda message: None)
    finally:
        config_module.PRESETS.clear()
        config_module.PRESETS.update(presets)
        torch.set_num_threads(threads)
    return root, timings
