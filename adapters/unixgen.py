"""`unixgen`: UniXGen (Lee et al., 2023), a unified transformer over VQ-GAN image tokens and BPE report tokens.

Its code pins torch 1.7 / pytorch-lightning 1.4 / CUDA-only fast-transformers kernels, so it runs as a subprocess
adapter (`drivers/unixgen_driver.py`) in the user's UniXGen environment:

    xgem-bench run --task 'T->F' --model unixgen -o unixgen.repo=~/UniXGen -o unixgen.python=~/envs/unixgen/bin/python

Task support is UniXGen's own: any of F, L, T from the others, because it generates one modality after the others
in a sequence. The driver fixes the order upstream draws at random (conditions first, the target last, images in
slots img1.. with the target image in the last slot, the checkpoint run with as many image slots as the task has
images). Tasks without a report input (L->F, F->L) still need the text slot: it holds an empty report.
"""
from __future__ import annotations

from typing import Any

from xgem_bench import weights
from xgem_bench.adapters.subprocess_protocol import SubprocessAdapter
from xgem_bench.tasks import SINGLE_OUTPUT_TASKS, Task

VQGAN_CONFIG = "2021-12-17T08-58-54-project.yaml"


class UniXGenAdapter(SubprocessAdapter):
    name = "unixgen"
    version = "1"
    description = "UniXGen unified transformer (subprocess, own environment; repo + python options)"
    tasks = tuple(t.name for t in SINGLE_OUTPUT_TASKS)
    weights = ("unixgen", "unixgen-vqgan")
    driver = "unixgen_driver.py"
    repo_markers = ("unified_plmodel.py", "vae.py", "BBPE_tokenizer/vocab.json", "BBPE_tokenizer/merges.txt")

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {**super().default_options(),
                # upstream test_step samples with top-p 0.9 at temperature 0.7
                "top_p": 0.9, "temperature": 0.7,
                # frontal studies enter as PA (the more common MIMIC view); UniXGen has separate AP/PA embeddings
                "frontal_view": "PA"}

    def __init__(self, **options: Any):
        super().__init__(**options)
        if self.options["frontal_view"] not in ("PA", "AP"):
            raise ValueError(f"unixgen option frontal_view must be 'PA' or 'AP', got {self.options['frontal_view']!r}")

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "missing_report": "empty report in the text slot (L->F, F->L)",
                "order": "conditions (text first), then target"}

    def driver_options(self, task: Task) -> dict[str, Any]:
        vqgan = weights.require("unixgen-vqgan")
        return {"checkpoint": str(weights.require("unixgen")), "vqgan_checkpoint": str(vqgan / "last.ckpt"),
                "vqgan_config": str(vqgan / VQGAN_CONFIG), "top_p": self.options["top_p"],
                "temperature": self.options["temperature"], "frontal_view": self.options["frontal_view"],
                "max_text_len": 256}
