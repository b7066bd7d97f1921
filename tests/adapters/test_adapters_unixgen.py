"""The UniXGen driver on a stand-in upstream checkout (the real one needs torch 1.7 + CUDA kernels + weights):
the driver's batch layout is checked against upstream's conventions by the stand-in, through the real protocol."""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from xgem_bench import weights
from xgem_bench.adapters.base import AdapterContext
from xgem_bench.adapters.conformance import check_adapter
from xgem_bench.adapters.unixgen import VQGAN_CONFIG, UniXGenAdapter
from xgem_bench.tasks import Modality, parse_task

FAKE = Path(__file__).parent / "fake_unixgen"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    from tokenizers import ByteLevelBPETokenizer

    repo = tmp_path_factory.mktemp("UniXGen")
    for name in ("unified_plmodel.py", "vae.py"):
        shutil.copy(FAKE / name, repo)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(["no acute cardiopulmonary process", "small left pleural effusion"] * 5, vocab_size=300)
    (repo / "BBPE_tokenizer").mkdir()
    bpe.save_model(str(repo / "BBPE_tokenizer"))
    return repo


@pytest.fixture
def adapter(checkout, tmp_path):
    vocab = json.loads((checkout / "BBPE_tokenizer" / "vocab.json").read_text())
    ckpt = tmp_path / "unixgen.ckpt"  # the special tokens are added after the BPE vocabulary, as upstream does
    ckpt.write_text(json.dumps({"pad": len(vocab), "sos": len(vocab) + 1, "eos": len(vocab) + 2}))
    vqgan = tmp_path / "mimiccxr_vqgan"
    vqgan.mkdir()
    (vqgan / "last.ckpt").write_text("vqgan")
    (vqgan / VQGAN_CONFIG).write_text("model: {}")
    weights.import_file("unixgen", ckpt)
    weights.import_file("unixgen-vqgan", vqgan)
    (checkout / "calls.jsonl").unlink(missing_ok=True)
    made = UniXGenAdapter(repo=str(checkout), python=sys.executable, timeout_s=120)
    made.setup(AdapterContext(device="cpu"))
    return made


def _calls(checkout):
    return [json.loads(line) for line in (checkout / "calls.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("task, modes, views", [
    ("T->F", [["txt"], ["img1"]], [["AP"]]),
    ("L+T->F", [["txt"], ["img1"], ["img2"]], [["LATERAL"], ["AP"]]),
    ("F+T->L", [["txt"], ["img1"], ["img2"]], [["AP"], ["LATERAL"]]),
    ("F+L->T", [["img1"], ["img2"], ["txt"]], [["AP"], ["LATERAL"]]),
])
def test_driver_builds_upstream_batches(adapter, checkout, studies, task, modes, views):
    task = parse_task(task)
    for study in studies[:2]:
        study.frontal_view = "AP"
    out = adapter.generate([s.only(task.inputs) for s in studies[:2]], task, [3, 4])
    for o in out:
        value = o[task.outputs[0]]
        if task.outputs[0] is Modality.REPORT:
            assert isinstance(value, str) and value.strip()
        else:
            assert value.shape == (256, 256) and value.dtype == np.float32
    calls = _calls(checkout)
    assert len(calls) == 2
    assert all(c["modes"] == modes and c["views"] == views and c["max_img_num"] == len(views) for c in calls)
    assert adapter.diagnostics() == {"frontal_view_fallbacks": 0}


def test_each_frontal_gets_its_own_view_tokens(adapter, checkout, studies):
    """loader_unified.py: AP frontals start with [SOS1] (1025), PA with [SOS2] (1027), per image; unknown -> fallback."""
    task = parse_task("T->F")
    for study, view in zip(studies, ("AP", "PA", "")):
        study.frontal_view = view
    adapter.generate([s.only(task.inputs) for s in studies], task, [1, 2, 3])
    assert [c["views"] for c in _calls(checkout)] == [[["AP"]], [["PA"]], [["PA"]]]  # the third: fallback PA
    assert adapter.diagnostics() == {"frontal_view_fallbacks": 1}


def test_tasks_the_paper_marks_unsupported_are_not_declared():
    assert "L->F" not in UniXGenAdapter.tasks and "F->L" not in UniXGenAdapter.tasks
    assert {"T->F", "L+T->F", "T->L", "F+T->L", "F->T", "L->T", "F+L->T"} == set(UniXGenAdapter.tasks)


@pytest.mark.slow
def test_conformance_through_the_driver(adapter, dataset):
    report = check_adapter(adapter, dataset, tasks=["T->L"], n_studies=2)
    assert report.ok, report.render()


def test_settings_and_view_option(checkout):
    settings = UniXGenAdapter(repo=str(checkout)).recorded_settings()
    assert settings["top_p"] == 0.9 and settings["temperature"] == 0.7 and settings["frontal_view"] == "PA"
    assert settings["input"] == "canonical" and "ViewPosition" in settings["frontal_view_source"]
    assert "luma" in settings["output_conversion"] and "whole report" in settings["report_input"]
    with pytest.raises(ValueError, match="frontal_view"):
        UniXGenAdapter(frontal_view="LL")
    with pytest.raises(ValueError, match="input"):
        UniXGenAdapter(input="native")
