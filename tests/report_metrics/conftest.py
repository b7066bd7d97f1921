"""Fixtures for the report-metric tests: tiny RadGraph / RaTEScore models built once, imported per test."""
from pathlib import Path

import pytest

from report_tiny_models import build_bert, build_chexbert, build_roberta, build_radgraph_archive, build_rate_ner

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return build_bert(tmp_path_factory.mktemp("tiny-bert") / "bert")


@pytest.fixture(scope="session")
def tiny_radgraph_archive(tmp_path_factory, tiny_bert) -> Path:
    return build_radgraph_archive(tmp_path_factory.mktemp("radgraph") / "radgraph.tar.gz", tiny_bert)


@pytest.fixture(scope="session")
def tiny_rate_ner(tmp_path_factory) -> Path:
    return build_rate_ner(tmp_path_factory.mktemp("rate-ner") / "ner")


@pytest.fixture
def radgraph_weights(tiny_radgraph_archive, tiny_bert):
    """The tiny RadGraph v1 archive and its BERT, imported through the weights manager into this test's cache."""
    from xgem_bench import weights
    weights.import_file("radgraph", tiny_radgraph_archive)
    weights.import_file("radgraph-bert", tiny_bert)


@pytest.fixture
def ratescore_weights(tiny_rate_ner, tiny_bert):
    from xgem_bench import weights
    weights.import_file("ratescore-ner", tiny_rate_ner)
    weights.import_file("ratescore-biolord", tiny_bert)


@pytest.fixture(scope="session")
def tiny_chexbert(tmp_path_factory, tiny_bert) -> Path:
    return build_chexbert(tmp_path_factory.mktemp("chexbert") / "chexbert.pth", tiny_bert)


@pytest.fixture
def chexbert_weights(tiny_chexbert, tiny_bert):
    """The tiny CheXbert checkpoint and its BERT config/vocabulary, imported through the weights manager."""
    from xgem_bench import weights
    weights.import_file("chexbert", tiny_chexbert)
    weights.import_file("bert-base-uncased-config", tiny_bert)


@pytest.fixture(scope="session")
def tiny_roberta(tmp_path_factory) -> Path:
    return build_roberta(tmp_path_factory.mktemp("roberta") / "distilroberta-base")


@pytest.fixture
def bertscore_weights(tiny_roberta):
    from xgem_bench import weights
    weights.import_file("distilroberta-base", tiny_roberta)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data not present at {SHARED}")
    return SHARED
