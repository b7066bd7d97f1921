"""The LLM-CXR driver on stand-in upstream code (the real one needs torch 1.13, a 3B LLM and a taming VQ-GAN):
two stages per task in their own interpreters, codes passed between them, retries, seeds, through the real protocol."""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from xgem_bench import weights
from xgem_bench.adapters.base import AdapterContext, StudyFailure
from xgem_bench.adapters.llm_cxr import LLMCXRAdapter, vqgan_files
from xgem_bench.tasks import Modality, parse_task

FAKE = Path(__file__).parent / "fake_llm_cxr"
COMPAT = "2023-09-05T13-56-50_mimic-cxr-256-txvloss"  # the release's file stem (LLM-CXR README)


def _fake_vqgan_state(embed_dim=4):
    """The state dict of the stand-in taming VQModel, i.e. a checkpoint that matches its config."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fake_vqgan", FAKE / "taming" / "taming" / "models" / "vqgan.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.VQModel(embed_dim=embed_dim).state_dict()


@pytest.fixture
def adapter(tmp_path):
    repo, taming = tmp_path / "llm-cxr", tmp_path / "taming"
    shutil.copytree(FAKE / "llm-cxr", repo)
    shutil.copytree(FAKE / "taming", taming)
    model = tmp_path / "llm"
    model.mkdir()
    (model / "config.json").write_text("{}")
    vqgan = tmp_path / "vqgan"
    vqgan.mkdir()
    (vqgan / f"{COMPAT}-project-compat.yaml").write_text("model:\n  params: {embed_dim: 4}\n")
    (vqgan / f"{COMPAT}-project.yaml").write_text("model:\n  params: {embed_dim: 8}\n")  # the non-compat pair
    torch.save({"state_dict": _fake_vqgan_state()}, vqgan / f"{COMPAT}-4e-compat.ckpt")
    torch.save({"state_dict": _fake_vqgan_state(8)}, vqgan / "last.ckpt")
    weights.import_file("llm-cxr", model)
    weights.import_file("llm-cxr-vqgan", vqgan)
    made = LLMCXRAdapter(repo=str(repo), python=sys.executable, vq_python=sys.executable, taming_repo=str(taming),
                         timeout_s=120)
    made.setup(AdapterContext(device="cpu"))
    return made


def _calls(adapter):
    path = Path(adapter.settings["repo"]) / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_report_from_frontal(adapter, studies):
    task = parse_task("F->T")
    assert [s.name for s in adapter.stages(task)] == ["vq_encode", "llm_generate"]
    out = adapter.generate([s.only(task.inputs) for s in studies[:2]], task, [5, 6])
    texts = [o[Modality.REPORT] for o in out]
    assert all(t.startswith("impression: codes average") for t in texts)
    calls = _calls(adapter)
    assert [c["input"] for c in calls] == [256, 256]  # the image entered as 256 shifted VQ codes
    assert all(c["max_new_tokens"] == 128 and c["top_p"] == 0.92 and c["top_k"] == 0 and c["do_sample"]
               for c in calls)
    again = adapter.generate([s.only(task.inputs) for s in studies[:2]], task, [5, 6])
    assert [o[Modality.REPORT] for o in again] == texts  # seeded per study


def test_frontal_from_report_with_retry(adapter, studies):
    task = parse_task("T->F")
    assert [s.name for s in adapter.stages(task)] == ["llm_generate", "vq_decode"]
    inputs = [s.only(task.inputs) for s in studies[:2]]
    inputs[0].report = "please retry this one"
    out = adapter.generate(inputs, task, [1, 2])
    for o in out:
        image = o[Modality.FRONTAL]
        assert image.shape == (256, 256) and image.dtype == np.float32 and 0 <= image.min() <= image.max() <= 1
    calls = _calls(adapter)
    assert [c["input"] for c in calls] == [inputs[0].report] * 2 + [inputs[1].report]  # one retry
    assert all(c["max_new_tokens"] == 300 for c in calls)


@pytest.mark.slow
def test_image_attempts_exhausted_is_a_study_failure_and_counted(adapter, studies):
    adapter.settings["image_attempts"] = 1
    inputs = [s.only([Modality.REPORT]) for s in studies[:2]]
    inputs[0].report = "retry"
    out = adapter.generate(inputs, parse_task("T->F"), [1, 2])
    assert isinstance(out[0], StudyFailure) and "after 1 attempts" in str(out[0])
    assert isinstance(out[1], dict)
    assert adapter.diagnostics() == {"image_requests": 2, "image_retries_exhausted": 1}


def test_vqgan_files_prefer_the_compat_pair_or_are_named(tmp_path):
    (tmp_path / "a.yaml").write_text("")
    (tmp_path / "b.yaml").write_text("")
    (tmp_path / "last.ckpt").write_text("")
    (tmp_path / "epoch3.ckpt").write_text("")
    with pytest.raises(FileNotFoundError, match="vqgan_config"):
        vqgan_files(tmp_path, None, None)
    with pytest.raises(FileNotFoundError, match="vqgan_checkpoint"):
        vqgan_files(tmp_path, "b.yaml", None)  # last.ckpt is no longer preferred
    (tmp_path / "x-project-compat.yaml").write_text("")
    (tmp_path / "x-4e-compat.ckpt").write_text("")
    assert vqgan_files(tmp_path, None, None) == (tmp_path / "x-project-compat.yaml", tmp_path / "x-4e-compat.ckpt")


def test_mismatched_vqgan_checkpoint_is_refused(adapter, studies):
    """decode_cxr_all.py loads strictly: a checkpoint of another config fails every study, naming the compat files."""
    adapter.settings["vqgan_checkpoint"] = "last.ckpt"  # embed_dim 8 against the compat config's 4
    task = parse_task("F->T")
    out = adapter.generate([s.only(task.inputs) for s in studies[:2]], task, [1, 2])
    assert all(isinstance(o, StudyFailure) and "-compat" in str(o) for o in out)


def test_device_reaches_the_llm_stage(adapter):
    """Upstream loads the LLM with device_map="auto": the device setting becomes CUDA_VISIBLE_DEVICES there."""
    stage = adapter.stages(parse_task("F->T"))[1]
    assert stage.name == "llm_generate" and adapter.stage_environment(stage) == {"CUDA_VISIBLE_DEVICES": ""}
    adapter.settings["device"] = "cuda:3"
    assert adapter.stage_environment(stage) == {"CUDA_VISIBLE_DEVICES": "3"}
    assert adapter.stage_environment(adapter.stages(parse_task("F->T"))[0]) == {}


def test_upstream_input_mode_reads_the_original(adapter, studies, tmp_path):
    from PIL import Image

    original = tmp_path / "original.png"
    Image.fromarray(np.tile(np.arange(300, dtype=np.uint8)[None, :200], (400, 1)), mode="L").save(original)
    adapter.settings["input"] = "upstream"
    task = parse_task("F->T")
    inputs = [s.only(task.inputs) for s in studies[:2]]
    inputs[0].sources = {"frontal": str(original)}
    out = adapter.generate(inputs, task, [1, 2])
    assert isinstance(out[0], dict) and out[0][Modality.REPORT].startswith("impression: codes average")
    assert isinstance(out[1], StudyFailure) and "frontal_source" in str(out[1])
    assert len(_calls(adapter)) == 1  # the study without an original never reached the model


def test_runtime_paths_stay_out_of_settings(adapter):
    settings = adapter.recorded_settings()
    assert not {"repo", "python", "vq_python", "taming_repo", "timeout_s"} & set(settings)
    assert settings["max_new_tokens_image"] == 300 and settings["image_attempts"] == 10
    assert settings["input"] == "canonical" and "luma" in settings["output_conversion"]
