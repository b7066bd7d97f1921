"""CXRMate through the real loading path (trust_remote_code from a local folder, fast tokenizer, image processor),
on a tiny VisionEncoderDecoder in CXRMate's folder layout whose custom code offers the upstream interface. The tiny
model is trained for a few steps to write one fixed report, so section extraction is checked on real generation."""
import importlib.util
import shutil
from pathlib import Path

import pytest
import torch

from xgem_bench import weights
from xgem_bench.adapters.base import AdapterContext, StudyFailure
from xgem_bench.adapters.conformance import check_adapter
from xgem_bench.adapters.cxrmate import CXRMateAdapter
from xgem_bench.data import InMemoryDataset
from xgem_bench.tasks import Modality, parse_task

CODE = Path(__file__).parent / "tiny_cxrmate" / "modelling_tiny_cxrmate.py"
WORDS = "lungs are clear no acute disease heart normal size".split()
TARGET = "lungs are clear [SEP] no acute disease [EOS]"  # after the prompt, which ends with [BOS]


def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[BOS]", "[EOS]", "[SEP]", "[PMT]", "[PMT-SEP]", "[NPF]", "[NPI]"]
    backend = Tokenizer(models.WordLevel({t: i for i, t in enumerate(specials + WORDS)}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="[BOS]", eos_token="[EOS]",
                                   sep_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]",
                                   additional_special_tokens=["[PMT]", "[PMT-SEP]", "[NPF]", "[NPI]"])


@pytest.fixture(scope="module", autouse=True)
def _modules_cache(tmp_path_factory):
    """trust_remote_code copies the model code into transformers' modules cache: keep it out of the home folder."""
    import transformers.dynamic_module_utils as dynamic

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dynamic, "HF_MODULES_CACHE", str(tmp_path_factory.mktemp("hf-modules")))
        yield


@pytest.fixture(scope="module")
def tiny_cxrmate(tmp_path_factory):
    from transformers import BertConfig, ConvNextImageProcessor, ViTConfig, VisionEncoderDecoderConfig

    spec = importlib.util.spec_from_file_location("modelling_tiny_cxrmate", CODE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tokenizer = _tokenizer()
    torch.manual_seed(0)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(
        ViTConfig(image_size=32, patch_size=16, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                  intermediate_size=37),
        BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                   intermediate_size=37, is_decoder=True, add_cross_attention=True))
    config.decoder_start_token_id, config.pad_token_id = tokenizer.bos_token_id, tokenizer.pad_token_id
    config.auto_map = {"AutoModel": "modelling_tiny_cxrmate.TinyLongitudinalModel"}
    model = module.TinyLongitudinalModel(config=config)
    prompt = module.TinyLongitudinalModel.tokenize_prompt([None], [None], tokenizer, 256, True)["input_ids"]
    target = tokenizer(TARGET, add_special_tokens=False, return_tensors="pt")["input_ids"]
    sequence = torch.cat([prompt, target], dim=1)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(80):  # overfit: whatever the images, write the target report
        pixels = torch.randn(2, 1 + step % 2, 3, 32, 32) * 2
        ids = sequence.repeat(2, 1)
        loss = model(pixel_values=pixels, decoder_input_ids=ids, labels=ids).loss  # the loss shifts the labels
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    folder = tmp_path_factory.mktemp("cxrmate") / "cxrmate"
    model.save_pretrained(folder)
    shutil.copy(CODE, folder)
    tokenizer.save_pretrained(folder)
    ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=1.0, image_mean=[0.5] * 3,
                           image_std=[0.25] * 3).save_pretrained(folder)
    return folder


def test_conformance_on_imported_weight(tiny_cxrmate, dataset):
    weights.import_file("cxrmate", tiny_cxrmate)
    adapter = CXRMateAdapter(num_beams=2, max_new_tokens=16)
    assert adapter.unavailable_reason() is None
    report = check_adapter(adapter, dataset, n_studies=2)
    assert report.ok, report.render()


def test_impression_section_is_returned(tiny_cxrmate, studies):
    adapter = CXRMateAdapter(checkpoint=str(tiny_cxrmate), num_beams=2, max_new_tokens=16)
    adapter.setup(AdapterContext())
    for task in ("F->T", "L->T", "F+L->T"):
        task = parse_task(task)
        out = adapter.generate([s.only(task.inputs) for s in studies], task, [0, 1, 2])
        assert [o[Modality.REPORT] for o in out] == ["no acute disease"] * 3


def test_empty_impression_falls_back_to_findings_or_fails():
    adapter = CXRMateAdapter()
    assert adapter._impression("lungs are clear", " ") == {Modality.REPORT: "lungs are clear"}
    assert adapter.empty_impressions == 1 and adapter.diagnostics()["empty_impressions"] == 1
    strict = CXRMateAdapter(fallback="none")
    assert isinstance(strict._impression("lungs are clear", ""), StudyFailure)
    assert "no findings" in str(adapter._impression("", ""))


def _history(studies):
    """Three studies of one subject in time order, the middle one with a known report."""
    for i, study in enumerate(studies):
        study.subject_id, study.study_datetime, study.split = "p1", f"2180010{i} 120000", "test"
    studies[0].report = "lungs are clear"
    return InMemoryDataset(studies, name="longitudinal")


def _prompted(folder, studies, prior):
    """A CXRMate adapter set up on a three-study history, and the list of decoded prompts it will send."""
    adapter = CXRMateAdapter(checkpoint=str(folder), num_beams=2, max_new_tokens=16, prior=prior)
    adapter.setup(AdapterContext(dataset=_history(studies)))
    return adapter, _spy_prompts(adapter)


def _spy_prompts(adapter):
    seen, generate = [], adapter._model.generate

    def spy(**kwargs):
        seen.append(adapter._tokenizer.decode(kwargs["decoder_input_ids"][0]))
        return generate(**kwargs)
    adapter._model.generate = spy
    return seen


def test_prior_reference_prompts_with_the_previous_report(tiny_cxrmate, studies):
    """PreviousReportSubset: the subject's previous study (by date and time), its sections as the prompt."""
    adapter, seen = _prompted(tiny_cxrmate, studies, "reference")
    task = parse_task("F->T")
    out = adapter.generate([s.only(task.inputs) for s in studies[:2]], task, [0, 1])
    assert all(isinstance(o, dict) for o in out)
    assert seen[0] == "[PMT] [NPF] [PMT-SEP] [NPI] [BOS]"  # the first study has no previous one
    assert seen[1] == "[PMT] [NPF] [PMT-SEP] lungs are clear [BOS]"
    assert adapter.diagnostics()["prompted_with_prior"] == 1


def test_prior_generated_chains_generated_reports_in_time_order(tiny_cxrmate, studies):
    adapter, seen = _prompted(tiny_cxrmate, studies, "generated")
    task = parse_task("F->T")
    out = adapter.generate([studies[2].only(task.inputs)], task, [0])  # the last study first: both earlier ones run
    assert isinstance(out[0], dict)
    findings, impression = adapter._generated["s1"]
    assert seen == ["[PMT] [NPF] [PMT-SEP] [NPI] [BOS]",  # s0, first of the subject
                    "[PMT] lungs are clear [PMT-SEP] no acute disease [BOS]",  # s1, prompted with s0's output
                    f"[PMT] {findings or '[NPF]'} [PMT-SEP] {impression or '[NPI]'} [BOS]"]  # s2, with s1's
    adapter.generate([studies[1].only(task.inputs)], task, [0])
    assert len(seen) == 3  # generated once, reused


def test_prior_and_ties_follow_upstream_history_rules(studies):
    from xgem_bench.data.history import previous_studies

    for study, (subject, when) in zip(studies, [("a", "21800101 1"), ("a", "21800101 1"), ("a", "21800102 1")]):
        study.subject_id, study.study_datetime, study.split = subject, when, "test"
    assert set(previous_studies(InMemoryDataset(studies)).values()) == {None}  # a tie hides the order
    studies[1].study_datetime = "21800101 0"
    assert previous_studies(InMemoryDataset(studies)) == {"s0": "s1", "s1": None, "s2": "s0"}
    studies[2].split = "train"  # history stays within a split
    assert previous_studies(InMemoryDataset(studies))["s2"] is None


def test_missing_weight_names_the_fetch_command():
    assert "xgem-bench weights fetch cxrmate" in CXRMateAdapter().unavailable_reason()
    with pytest.raises(ValueError, match="fallback"):
        CXRMateAdapter(fallback="report")
    with pytest.raises(ValueError, match="prior"):
        CXRMateAdapter(prior="previous")
    with pytest.raises(ValueError, match="needs the run's dataset"):
        CXRMateAdapter(prior="generated").setup(AdapterContext())


def test_remote_code_runs_only_from_a_folder_matching_its_recorded_checksums(tiny_cxrmate, tmp_path):
    """Issue 13 §5: trust_remote_code executes the folder's Python, so the folder is verified first."""
    installed = weights.import_file("cxrmate", tiny_cxrmate)
    marker = tmp_path / "custom-code-ran"
    code = installed / CODE.name
    code.write_text(code.read_text() + f"\nopen({str(marker)!r}, 'w').close()\n")  # what an attacker would add
    with pytest.raises(weights.WeightsMismatch, match="cxrmate.*not loaded"):
        CXRMateAdapter().setup(AdapterContext())
    assert not marker.exists()


def test_a_folder_given_by_path_is_recorded_then_verified_before_its_code_runs(tiny_cxrmate, tmp_path):
    """-s cxrmate.checkpoint=FOLDER: no catalog record exists, so the first use records the folder's sha256 and a
    later change to its custom code is refused before anything executes."""
    folder = tmp_path / "my-cxrmate"
    shutil.copytree(tiny_cxrmate, folder)
    CXRMateAdapter(checkpoint=str(folder)).setup(AdapterContext())  # first use: recorded
    marker = tmp_path / "custom-code-ran"
    code = folder / CODE.name
    code.write_text(code.read_text() + f"\nopen({str(marker)!r}, 'w').close()\n")
    with pytest.raises(weights.WeightsMismatch, match="changed since, so it is not loaded"):
        CXRMateAdapter(checkpoint=str(folder)).setup(AdapterContext())
    assert not marker.exists()


def test_upstream_input_mode_crops_the_original(tiny_cxrmate, studies, tmp_path):
    """input=upstream: the processor's Resize(shortest_edge) + CenterCrop on the original file, as the example."""
    import numpy as np
    from PIL import Image
    from torchvision import transforms

    original = tmp_path / "original.png"
    pixels = (np.arange(90 * 60).reshape(90, 60) % 251).astype(np.uint8)
    Image.fromarray(pixels, mode="L").save(original)
    adapter = CXRMateAdapter(checkpoint=str(tiny_cxrmate), num_beams=2, max_new_tokens=16, input="upstream")
    adapter.setup(AdapterContext())
    task = parse_task("F->T")
    inputs = [s.only(task.inputs) for s in studies[:2]]
    inputs[0].sources = {"frontal": str(original)}
    expected = transforms.Compose([transforms.Resize(32), transforms.CenterCrop([32, 32]), transforms.ToTensor(),
                                   transforms.Normalize([0.5] * 3, [0.25] * 3)])(Image.open(original).convert("RGB"))
    torch.testing.assert_close(adapter._study_pixels(inputs[0], task)[0], expected)
    out = adapter.generate(inputs, task, [0, 1])
    assert isinstance(out[0], dict) and isinstance(out[1], StudyFailure) and "frontal_source" in str(out[1])
