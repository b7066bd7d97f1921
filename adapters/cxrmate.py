"""`cxrmate`: CXRMate (Nicolson et al., 2023; aehrc/cxrmate), a multi-image report generator, scored on its impression.

F->T, L->T, F+L->T: the study's images form one set (frontal first), as upstream feeds the images of a study. The
published model is a transformers VisionEncoderDecoder with custom code, so it is loaded with trust_remote_code from
a local folder only (the `cxrmate` weight, or `-s cxrmate.checkpoint=FOLDER_OR_CACHED_HUB_ID`), following the
upstream example (examples/cxrmate.ipynb): RGB -> Resize(shortest_edge) -> CenterCrop -> ToTensor -> Normalize with
the checkpoint's image processor; images zero-padded to [B, n_images, 3, S, S]; beam search with 4 beams; the
prompt truncated to `prompt_max_len` (upstream's decoder_max_len, 256) and at most that many new tokens after it; a
leading BOS stripped; split_and_decode_sections on BOS/SEP/EOS -> (prompt, findings, impression). The impression is
returned; when the model writes none, the findings are (counted in `empty_impressions`, `fallback` setting).

The released model is longitudinal: its prompt is the previous study's findings and impression. Setting `prior`:
  none        no previous study ([NPF]/[NPI]), the default: comparable across datasets without history;
  reference   the radiologist's previous report (the dataset's report section, as the impression) when the subject
              has an earlier study in the same split (manifest columns subject_id + study_datetime);
  generated   the report this adapter generated for the previous study, as the published evaluation of aehrc/cxrmate
              does (config test_huggingface/longitudinal_gen_prompt_cxr-bert.yaml: GeneratedPrompt, one study at a
              time in order of time); previous studies are generated first when they are not yet.
Prompted studies are generated one at a time, as upstream (mbatch_size 1), so padding never enters a prompt.
"""
from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from xgem_bench import weights
from xgem_bench.adapters.base import Adapter, AdapterContext, StudyFailure
from xgem_bench.adapters.checkpoints import CheckpointOption
from xgem_bench.adapters.upstream_inputs import INPUT_MODES, source_image
from xgem_bench.data.history import previous_studies
from xgem_bench.data.study import Study
from xgem_bench.tasks import Modality, Task

PRIOR_MODES = ("none", "reference", "generated")

log = logging.getLogger(__name__)


class CXRMateAdapter(CheckpointOption, Adapter):
    name = "cxrmate"
    version = "2"
    description = "CXRMate report generator (impression section; custom code from a local folder)"
    tasks = ("F->T", "L->T", "F+L->T")
    weights = ("cxrmate",)
    checkpoint_weight = "cxrmate"
    packages = ("transformers", "peft")

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        return {"checkpoint": None, "num_beams": 4, "max_new_tokens": 256, "prompt_max_len": 256,
                "fallback": "findings", "prior": "none",
                # canonical: the suite's 256 px inputs; upstream: the processor's resize + crop of the original file
                "input": "canonical"}

    @classmethod
    def allowed_settings(cls) -> dict[str, tuple]:
        return {"fallback": ("findings", "none"), "prior": PRIOR_MODES, "input": INPUT_MODES}

    def __init__(self, **settings: Any):
        super().__init__(**settings)
        self.empty_impressions = 0
        self.prompted_with_prior = 0
        self._model = None
        self._generated: dict[str, tuple[str, str]] = {}  # study id -> generated (findings, impression)

    def recorded_settings(self) -> dict[str, Any]:
        return {**super().recorded_settings(),
                "report_output": "the impression section; the findings when none is written (fallback)",
                "image_conversion": "grey [0, 1] -> 8-bit RGB -> the checkpoint processor's resize, crop, normalise"}

    def diagnostics(self) -> dict[str, Any]:
        return {"empty_impressions": self.empty_impressions, "prompted_with_prior": self.prompted_with_prior}

    def setup(self, context: AdapterContext) -> None:
        import transformers
        from torchvision import transforms

        if self.settings["prior"] != "none" and context.dataset is None:
            raise ValueError(f"cxrmate prior={self.settings['prior']} needs the run's dataset (its study history)")
        folder = self.checkpoint_folder()  # the catalog copy is verified against its recorded checksums here
        if self.settings["checkpoint"] is not None:  # a folder given by path: its code runs, so verify it too
            weights.verify_local(folder, "CXRMate checkpoint (custom model code)")
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
        if self.settings["prior"] != "none":
            self._dataset = context.dataset
            self._previous = previous_studies(context.dataset)
            self._position = {study_id: i for i, study_id in enumerate(context.dataset.study_ids)}

    def _study_pixels(self, study: Study, task: Task):
        """[n_images, 3, S, S] for one study (frontal first); StudyFailure when its original is needed and absent."""
        import torch
        from PIL import Image

        images = [source_image(study, m).convert("RGB") if self.settings["input"] == "upstream" else
                  Image.fromarray(np.round(np.asarray(study.get(m)) * 255).astype(np.uint8)).convert("RGB")
                  for m in task.inputs if m.is_image]
        return torch.stack([self._transform(image) for image in images])

    def _sections(self, pixels: list, prompts: list[tuple[str | None, str | None]]) -> list[tuple[str, str]]:
        """Beam search for a batch of studies: their pixel stacks and (previous findings, previous impression)."""
        import torch

        tok, model = self._tokenizer, self._model
        prompt = model.tokenize_prompt([p[0] for p in prompts], [p[1] for p in prompts], tok,
                                       int(self.settings["prompt_max_len"]), add_bos_token_id=True)
        prompt_ids = prompt["input_ids"].to(self._device)
        pixel_values = torch.nn.utils.rnn.pad_sequence(pixels, batch_first=True, padding_value=0.0)
        pmt_sep = tok.additional_special_tokens_ids[tok.additional_special_tokens.index("[PMT-SEP]")]
        with torch.inference_mode():
            sequences = model.generate(
                pixel_values=pixel_values.to(self._device), decoder_input_ids=prompt_ids,
                special_token_ids=[pmt_sep, tok.bos_token_id, tok.sep_token_id],
                bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                mask_token_id=tok.pad_token_id, max_length=int(self.settings["max_new_tokens"]) + prompt_ids.shape[1],
                num_beams=int(self.settings["num_beams"]), return_dict_in_generate=True, use_cache=True).sequences
        if torch.all(sequences[:, 0] == tok.bos_token_id):  # newer generate() prepends a BOS (upstream note)
            sequences = sequences[:, 1:]
        _, findings, impressions = model.split_and_decode_sections(
            sequences, [tok.bos_token_id, tok.sep_token_id, tok.eos_token_id], tok)
        return list(zip(findings, impressions))

    def _prior_prompt(self, study: Study, task: Task) -> tuple[str | None, str | None]:
        """(previous findings, previous impression) for one study under the prior setting; (None, None) = none."""
        previous = self._previous.get(study.study_id)
        if previous is None:
            return None, None
        if self.settings["prior"] == "reference":
            prompt = (None, self._dataset.load(self._position[previous], [Modality.REPORT]).report)
        elif previous in self._generated:
            prompt = self._generated[previous]
        else:
            earlier = self._dataset.load(self._position[previous], task.inputs)
            if not all(earlier.has(m) for m in task.inputs):
                return None, None
            prompt = self._generate_one(earlier.only(task.inputs), task)
        if any(prompt):
            self.prompted_with_prior += 1
        return prompt

    def _generate_one(self, study: Study, task: Task) -> tuple[str, str]:
        sections = self._sections([self._study_pixels(study, task)], [self._prior_prompt(study, task)])[0]
        self._generated[study.study_id] = sections
        return sections

    def generate(self, studies: Sequence[Study], task: Task, seeds: Sequence[int]) -> list[dict | StudyFailure]:
        if self._model is None:
            raise RuntimeError("cxrmate: setup() was not called")
        results: list[dict | StudyFailure | None] = [None] * len(studies)
        ready, pixels = [], []
        for index, study in enumerate(studies):
            try:
                pixels.append(self._study_pixels(study, task))
                ready.append(index)
            except StudyFailure as failure:
                results[index] = failure
        if self.settings["prior"] == "none":
            sections = self._sections(pixels, [(None, None)] * len(ready)) if ready else []
        else:
            sections = [self._generated.get(studies[i].study_id) or self._generate_one(studies[i], task)
                        for i in ready]
        for index, (findings, impression) in zip(ready, sections):
            results[index] = self._impression(findings, impression)
        return results

    def _impression(self, findings: str, impression: str) -> dict | StudyFailure:
        if impression.strip():
            return {Modality.REPORT: impression.strip()}
        self.empty_impressions += 1
        log.warning("cxrmate: generated report has no impression section (%d so far)", self.empty_impressions)
        if self.settings["fallback"] == "findings" and findings.strip():
            return {Modality.REPORT: findings.strip()}
        return StudyFailure("CXRMate generated no impression" + (" and no findings" if not findings.strip() else ""))
