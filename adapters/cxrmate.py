"""`cxrmate`: CXRMate (Nicolson et al., 2023; aehrc/cxrmate), a multi-image report generator, scored on its impression.

F->T, L->T, F+L->T: the study's images form one set (frontal first), as upstream feeds the images of a study. The
published model is a transformers VisionEncoderDecoder with custom code, so it is loaded with trust_remote_code from
a local folder only (the `cxrmate` weight, or `-o cxrmate.checkpoint=FOLDER_OR_CACHED_HUB_ID`), following the
upstream example (examples/cxrmate.ipynb): RGB -> Resize(shortest_edge) -> CenterCrop -> ToTensor -> Normalize with
the checkpoint's image processor; images zero-padded to [B, n_images, 3, S, S]; no prior study (the prompt holds
[NPF]/[NPI]); beam search with 4 beams and 256 new tokens; a leading BOS stripped; split_and_decode_sections on
BOS/SEP/EOS -> (prompt, findings, impression). The impression is returned; when the model writes none, the
findings are (counted in `empty_impressions`, controlled by the `fallback` option).
"""
from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from xgem_bench.adapters.base import Adapter, AdapterContext, StudyFailure
from xgem_bench.adapters.checkpoints import CheckpointOption
from xgem_bench.data.study import Study
from xgem_bench.tasks import Modality, Task

log = logging.getLogger(__name__)


class CXRMateAdapter(CheckpointOption, Adapter):
    name = "cxrmate"
    version = "1"
    description = "CXRMate report generator (impression section; custom code from a local folder)"
    tasks = ("F->T", "L->T", "F+L->T")
    weights = ("cxrmate",)
    checkpoint_weight = "cxrmate"
    packages = ("transformers", "peft")

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {"checkpoint": None, "num_beams": 4, "max_new_tokens": 256, "fallback": "findings"}

    def __init__(self, **options: Any):
        super().__init__(**options)
        if self.options["fallback"] not in ("findings", "none"):
            raise ValueError(f"cxrmate option fallback must be 'findings' or 'none', got {self.options['fallback']!r}")
        self.empty_impressions = 0
        self._model = None

    def diagnostics(self) -> dict[str, Any]:
        return {"empty_impressions": self.empty_impressions}

    def setup(self, context: AdapterContext) -> None:
        import transformers
        from torchvision import transforms

        folder = self.checkpoint_folder()
        # custom code comes from the folder itself; local_files_only keeps the hub out of it
        model = transformers.AutoModel.from_pretrained(folder, trust_remote_code=True, local_files_only=True)
        self._model = model.to(context.device).eval()
        self._device = context.device
        self._tokenizer = transformers.PreTrainedTokenizerFast.from_pretrained(folder, local_files_only=True)
        processor = transformers.AutoImageProcessor.from_pretrained(folder, local_files_only=True)
        size = processor.size.get("shortest_edge") or processor.size["height"]
        self._transform = transforms.Compose([
            transforms.Resize(size=size), transforms.CenterCrop(size=[size, size]), transforms.ToTensor(),
            transforms.Normalize(mean=processor.image_mean, std=processor.image_std)])

    def _pixels(self, studies: Sequence[Study], task: Task):
        import torch
        from PIL import Image

        per_study = []
        for study in studies:
            images = [Image.fromarray(np.round(np.asarray(study.get(m)) * 255).astype(np.uint8)).convert("RGB")
                      for m in task.inputs if m.is_image]
            per_study.append(torch.stack([self._transform(image) for image in images]))
        return torch.nn.utils.rnn.pad_sequence(per_study, batch_first=True, padding_value=0.0).to(self._device)

    def generate(self, studies: Sequence[Study], task: Task, seeds: Sequence[int]) -> list[dict | StudyFailure]:
        import torch

        if self._model is None:
            raise RuntimeError("cxrmate: setup() was not called")
        if not studies:
            return []
        tok, model = self._tokenizer, self._model
        prompt = model.tokenize_prompt(["[NPF]"] * len(studies), ["[NPI]"] * len(studies), tok,
                                       int(self.options["max_new_tokens"]), add_bos_token_id=True)
        prompt_ids = prompt["input_ids"].to(self._device)
        pmt_sep = tok.additional_special_tokens_ids[tok.additional_special_tokens.index("[PMT-SEP]")]
        with torch.inference_mode():
            sequences = model.generate(
                pixel_values=self._pixels(studies, task), decoder_input_ids=prompt_ids,
                special_token_ids=[pmt_sep, tok.bos_token_id, tok.sep_token_id],
                bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                mask_token_id=tok.pad_token_id, max_length=int(self.options["max_new_tokens"]) + prompt_ids.shape[1],
                num_beams=int(self.options["num_beams"]), return_dict_in_generate=True, use_cache=True).sequences
        if torch.all(sequences[:, 0] == tok.bos_token_id):  # newer generate() prepends a BOS (upstream note)
            sequences = sequences[:, 1:]
        _, findings, impressions = model.split_and_decode_sections(
            sequences, [tok.bos_token_id, tok.sep_token_id, tok.eos_token_id], tok)
        return [self._impression(f, i) for f, i in zip(findings, impressions)]

    def _impression(self, findings: str, impression: str) -> dict | StudyFailure:
        if impression.strip():
            return {Modality.REPORT: impression.strip()}
        self.empty_impressions += 1
        log.warning("cxrmate: generated report has no impression section (%d so far)", self.empty_impressions)
        if self.options["fallback"] == "findings" and findings.strip():
            return {Modality.REPORT: findings.strip()}
        return StudyFailure("CXRMate generated no impression" + (" and no findings" if not findings.strip() else ""))
