"""`roentgen`: RoentGen (Chambon et al., 2022), Stable Diffusion 1.x fine-tuned on MIMIC-CXR frontal images + reports.

T->F only. Loaded with diffusers' StableDiffusionPipeline from the `roentgen` weight folder, another local folder, or
a hub id already in the local Hugging Face cache (`-s roentgen.checkpoint=...`); the weights are gated, never
downloaded here. Upstream defaults: 512x512, 75 steps, guidance 4.0. Reports longer than CLIP's 77-token window are
truncated by the pipeline, as upstream; the adapter counts them (`truncated_prompts`) and warns. Output RGB becomes
ITU-R 601 luma, then 256x256 by area downsampling.
"""
from __future__ import annotations

import logging
from typing import Any, Sequence

from xgem_bench.adapters.base import Adapter, AdapterContext
from xgem_bench.adapters.checkpoints import CheckpointOption
from xgem_bench.adapters.convert import to_canonical_image
from xgem_bench.data.study import Study
from xgem_bench.tasks import Modality, Task

log = logging.getLogger(__name__)


class RoentGenAdapter(CheckpointOption, Adapter):
    name = "roentgen"
    version = "1"
    description = "RoentGen report-to-frontal Stable Diffusion (gated weights, local folder or cached hub id)"
    tasks = ("T->F",)
    weights = ("roentgen",)
    checkpoint_weight = "roentgen"
    packages = ("diffusers", "transformers")

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        return {"checkpoint": None, "steps": 75, "guidance": 4.0, "height": 512, "width": 512, "dtype": "float32"}

    @classmethod
    def allowed_settings(cls) -> dict[str, tuple]:
        return {"dtype": ("float32", "float16", "bfloat16")}

    def __init__(self, **settings: Any):
        super().__init__(**settings)
        self.truncated_prompts = 0
        self._pipe = None

    def diagnostics(self) -> dict[str, Any]:
        return {"truncated_prompts": self.truncated_prompts}

    def setup(self, context: AdapterContext) -> None:
        import torch
        from diffusers import StableDiffusionPipeline

        if context.device == "cpu" and self.settings["dtype"] == "float16":
            raise ValueError("roentgen: float16 needs a GPU; use dtype=float32 on the CPU")
        folder = self.checkpoint_folder()
        pipe = StableDiffusionPipeline.from_pretrained(
            folder, torch_dtype=getattr(torch, self.settings["dtype"]), local_files_only=True,
            safety_checker=None, requires_safety_checker=False)  # the NSFW filter would black out radiographs
        pipe.set_progress_bar_config(disable=True)
        self._pipe = pipe.to(context.device)

    def generate(self, studies: Sequence[Study], task: Task, seeds: Sequence[int]) -> list[dict]:
        import torch

        if self._pipe is None:
            raise RuntimeError("roentgen: setup() was not called")
        if not studies:
            return []
        prompts = [s.report or "" for s in studies]
        self._count_truncations(prompts)
        # one CPU generator per study: the starting noise depends on the seed only, not on the batch or the device
        generators = [torch.Generator("cpu").manual_seed(int(seed)) for seed in seeds]
        with torch.inference_mode():
            images = self._pipe(prompt=prompts, num_inference_steps=int(self.settings["steps"]),
                                guidance_scale=float(self.settings["guidance"]), height=int(self.settings["height"]),
                                width=int(self.settings["width"]), generator=generators, output_type="np").images
        return [{Modality.FRONTAL: to_canonical_image(image, "RoentGen output")} for image in images]

    def _count_truncations(self, prompts: list[str]) -> None:
        tokenizer = self._pipe.tokenizer
        lengths = [len(ids) for ids in tokenizer(prompts, truncation=False)["input_ids"]]
        over = sum(n > tokenizer.model_max_length for n in lengths)
        if over:
            self.truncated_prompts += over
            log.warning("roentgen: %d report(s) in this batch exceed CLIP's %d-token window and are truncated "
                        "(%d so far)", over, tokenizer.model_max_length, self.truncated_prompts)
