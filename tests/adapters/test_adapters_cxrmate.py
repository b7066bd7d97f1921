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
from xgem_bench.tasks import Modality, parse_task

CODE = Path(__file__).parent / "tiny_cxrmate" / "modelling_tiny_cxrmate.py"
WORDS = "lungs are clear no acute disease heart normal size".split()
TARGET = "[BOS] lungs are clear [SEP] no acute disease [EOS]"


def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[BOS]", "[EOS]", "[SEP]", "[PMT-SEP]", "[NPF]", "[NPI]"]
    backend = Tokenizer(models.WordLevel({t: i for i, t in enumerate(specials + WORDS)}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="[BOS]", eos_token="[EOS]",
                                   sep_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]",
                                   additional_special_tokens=["[PMT-SEP]", "[NPF]", "[NPI]"])


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
    prompt = module.TinyLongitudinalModel.tokenize_prompt(["[NPF]"], ["[NPI]"], tokenizer, 256, True)["input_ids"]
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
    assert adapter.empty_impressions == 1 and adapter.diagnostics() == {"empty_impressions": 1}
    strict = CXRMateAdapter(fallback="none")
    assert isinstance(strict._impression("lungs are clear", ""), StudyFailure)
    assert "no findings" in str(adapter._impression("", ""))


def test_missing_weight_names_the_fetch_command():
    assert "xgem-bench weights fetch cxrmate" in CXRMateAdapter().unavailable_reason()
    with pytest.raises(ValueError, match="fallback"):
        CXRMateAdapter(fallback="report")


def test_remote_code_runs_only_from_a_folder_matching_its_recorded_checksums(tiny_cxrmate, tmp_path):
    """Issue 13 §5: trust_remote_code executes the folder's Python, so the folder is verified first."""
    installed = weights.import_file("cxrmate", tiny_cxrmate)
    marker = tmp_path / "custom-code-ran"
    code = installed / CODE.name
    code.write_text(code.read_text() + f"\nopen({str(marker)!r}, 'w').close()\n")  # what an attacker would add
    with pytest.raises(weights.WeightsMismatch, match="cxrmate.*not loaded"):
        CXRMateAdapter().setup(AdapterContext())
    assert not marker.exists()
