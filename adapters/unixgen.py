"""`unixgen`: UniXGen (Lee et al., 2023), a unified transformer over VQ-GAN image tokens and BPE report tokens.

Its code pins torch 1.7 / pytorch-lightning 1.4 / CUDA-only fast-transformers kernels, so it runs as a subprocess
adapter (`drivers/unixgen_driver.py`) in the user's UniXGen environment:

    xgem-bench run --task 'T->F' --model unixgen -s unixgen.repo=~/UniXGen -s unixgen.python=~/envs/unixgen/bin/python

Tasks: a report slot is part of every UniXGen sequence, so the tasks are those where the report is an input or the
output (the paper marks L->F and F->L "-" for UniXGen: upstream never runs with an empty report). The driver fixes the
order upstream draws at random (conditions first, the target last, images in slots img1.. with the target image in
the last slot, the checkpoint run with as many image slots as the task has images). Each frontal carries its own
ViewPosition (AP or PA: its start/end tokens, position embedding and, for a generated frontal, the start token), read
from the study (manifest column `frontal_view`); the `frontal_view` setting is only the fallback for data without it.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from xgem_bench import weights
from xgem_bench.adapters.base import StudyFailure
from xgem_bench.adapters.subprocess_protocol import SubprocessAdapter
from xgem_bench.adapters.upstream_inputs import INPUT_MODES, source_image, unixgen_input
from xgem_bench.data.study import Study
from xgem_bench.tasks import SINGLE_OUTPUT_TASKS, Modality, Task

VQGAN_CONFIG = "2021-12-17T08-58-54-project.yaml"


class UniXGenAdapter(SubprocessAdapter):
    name = "unixgen"
    version = "2"
    description = "UniXGen unified transformer (subprocess, own environment; repo + python settings)"
    tasks = tuple(t.name for t in SINGLE_OUTPUT_TASKS if Modality.REPORT in t.inputs + t.outputs)
    weights = ("unixgen", "unixgen-vqgan")
    driver = "unixgen_driver.py"
    repo_markers = ("unified_plmodel.py", "vae.py", "BBPE_tokenizer/vocab.json", "BBPE_tokenizer/merges.txt")

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        return {**super().default_settings(),
                # upstream test_step samples with top-p 0.9 at temperature 0.7
                "top_p": 0.9, "temperature": 0.7,
                # fallback for studies whose ViewPosition is unknown (MIMIC-CXR has more AP than PA frontals)
                "frontal_view": "PA",
                # canonical: the suite's 256 px inputs; upstream: SmallestMaxSize(512) + CenterCrop from the original
                "input": "canonical"}

    @classmethod
    def allowed_settings(cls) -> dict[str, tuple]:
        return {"frontal_view": ("PA", "AP"), "input": INPUT_MODES}

    def __init__(self, **settings: Any):
        super().__init__(**settings)
        self.view_fallbacks = 0

    def recorded_settings(self) -> dict[str, Any]:
        return {**super().recorded_settings(),
                "order": "conditions (text first), then target; the target image in the last slot",
                "frontal_view_source": "the study's ViewPosition; the frontal_view setting where unknown",
                "report_input": "the dataset's report section (impression by default), double spaces folded, "
                                "lower-cased; UniXGen trained on the whole report",
                "output_conversion": "512x512 RGB decode -> ITU-R 601 luma -> 256x256 area downsampling"}

    def diagnostics(self) -> dict[str, Any]:
        return {"frontal_view_fallbacks": self.view_fallbacks}

    def input_image(self, study: Study, modality: Modality) -> np.ndarray:
        if self.settings["input"] == "upstream":
            return unixgen_input(source_image(study, modality))
        return study.get(modality)

    def generate(self, studies: Sequence[Study], task: Task, seeds: Sequence[int]) -> list[dict | StudyFailure]:
        if Modality.FRONTAL in task.inputs + task.outputs:
            self.view_fallbacks += sum(s.frontal_view not in ("AP", "PA") for s in studies)
        return super().generate(studies, task, seeds)

    def driver_settings(self, task: Task) -> dict[str, Any]:
        vqgan = weights.require("unixgen-vqgan")
        return {"checkpoint": str(weights.require("unixgen")), "vqgan_checkpoint": str(vqgan / "last.ckpt"),
                "vqgan_config": str(vqgan / VQGAN_CONFIG), "top_p": self.settings["top_p"],
                "temperature": self.settings["temperature"], "frontal_view": self.settings["frontal_view"],
                "max_text_len": 256}
