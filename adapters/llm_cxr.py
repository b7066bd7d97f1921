"""`llm-cxr`: LLM-CXR (Lee et al., 2023), dolly-v2-3b instruction-tuned to read and write 16x16 VQ-GAN codes.

Frontal only (trained on PA/AP views): T->F and F->T. Upstream pins torch 1.13 and runs its VQ-GAN through
taming-transformers, possibly in a second environment, so this is a subprocess adapter with two interpreters:

    -s llm-cxr.repo=~/llm-cxr -s llm-cxr.python=~/envs/llmcxr/bin/python
    [-s llm-cxr.vq_python=~/envs/taming/bin/python -s llm-cxr.taming_repo=~/taming-transformers]

F->T: VQ-GAN encode (vq_python) -> LLM generate (python). T->F: LLM generate -> VQ-GAN decode. The upstream
evaluation path is encode_cxr_all.py (LANCZOS shortest side 256, centre crop, 2x-1), generate_eval.py (do_sample,
top_p 0.92, top_k 0; 128 new tokens for reports, 300 for images; the image retried until it has 256 codes) and
decode_cxr_all.py (the VQ-GAN loaded strictly from the `*-compat` config and checkpoint of the release; codes ->
[-1, 1] -> [0, 1]). Upstream retries without limit; here at most `image_attempts` times, and the studies that
exhausted them are counted (`image_retries_exhausted` of `image_requests` in the results): they are left out of the
scores, which biases FID when they are many. The instruction sentence is drawn from upstream's list with the
study's seed. The LLM is loaded with device_map="auto" upstream; the `device` setting reaches it through
CUDA_VISIBLE_DEVICES (cuda:N -> N, cpu -> none), as generate_eval.py pins one GPU per process.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from xgem_bench import weights
from xgem_bench.adapters.base import StudyFailure
from xgem_bench.adapters.subprocess_protocol import Stage, SubprocessAdapter
from xgem_bench.adapters.upstream_inputs import INPUT_MODES, llm_cxr_input, source_image
from xgem_bench.data.study import Study
from xgem_bench.tasks import Modality, Task

#: the message the driver gives a study whose image never came out with 256 codes
RETRIES_EXHAUSTED = "VQ codes after"


class LLMCXRAdapter(SubprocessAdapter):
    name = "llm-cxr"
    version = "2"
    description = "LLM-CXR (frontal only; subprocess, LLM + VQ-GAN environments)"
    tasks = ("T->F", "F->T")
    weights = ("llm-cxr", "llm-cxr-vqgan")
    driver = "llm_cxr_driver.py"
    repo_markers = ("training/generate.py", "training/mimiccxr_vq_dataset.py", "training/consts.py")
    runtime_settings = SubprocessAdapter.runtime_settings + ("vq_python", "taming_repo")

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        return {**super().default_settings(),
                "vq_python": None,  # interpreter with taming-transformers; default: the same as `python`
                "taming_repo": None,  # a taming-transformers checkout, when it is not installed in that env
                "top_p": 0.92, "top_k": 0, "max_new_tokens_report": 128, "max_new_tokens_image": 300,
                "image_attempts": 10,
                "vqgan_config": None, "vqgan_checkpoint": None,  # inside the llm-cxr-vqgan folder; default: found
                # canonical: the suite's 256 px inputs; upstream: LANCZOS shortest side + centre crop of the original
                "input": "canonical"}

    @classmethod
    def allowed_settings(cls) -> dict[str, tuple]:
        return {"input": INPUT_MODES}

    def __init__(self, **settings: Any):
        super().__init__(**settings)
        self.image_requests = 0
        self.image_retries_exhausted = 0

    def recorded_settings(self) -> dict[str, Any]:
        return {**super().recorded_settings(),
                "report_input": "the dataset's report section (impression by default), as generate_eval.py's "
                                "parse_report_i",
                "output_conversion": "256x256 RGB decode clipped to [-1, 1] -> [0, 1] -> ITU-R 601 luma"}

    def diagnostics(self) -> dict[str, Any]:
        return {"image_requests": self.image_requests, "image_retries_exhausted": self.image_retries_exhausted}

    def input_image(self, study: Study, modality: Modality) -> np.ndarray:
        if self.settings["input"] == "upstream":
            return llm_cxr_input(source_image(study, modality))
        return study.get(modality)

    def generate(self, studies: Sequence[Study], task: Task, seeds: Sequence[int]) -> list[dict | StudyFailure]:
        results = super().generate(studies, task, seeds)
        if Modality.FRONTAL in task.outputs:
            self.image_requests += len(studies)
            self.image_retries_exhausted += sum(isinstance(r, StudyFailure) and RETRIES_EXHAUSTED in str(r)
                                                for r in results)
        return results

    def stage_environment(self, stage: Stage) -> dict[str, str]:
        if stage.name != "llm_generate":
            return {}
        device = str(self.settings["device"] or getattr(self, "_device", "cpu"))
        if device == "cpu":
            return {"CUDA_VISIBLE_DEVICES": ""}
        if device.startswith("cuda:"):
            return {"CUDA_VISIBLE_DEVICES": device.split(":", 1)[1]}
        return {}

    def stages(self, task: Task) -> list[Stage]:
        vq = Stage("vq_encode" if Modality.FRONTAL in task.inputs else "vq_decode",
                   "vq_python" if self.settings["vq_python"] else "python")
        llm = Stage("llm_generate")
        return [vq, llm] if vq.name == "vq_encode" else [llm, vq]

    def pythonpath(self) -> list[Path]:
        extra = [Path(self.settings["taming_repo"]).expanduser().resolve()] if self.settings["taming_repo"] else []
        return super().pythonpath() + extra

    def driver_settings(self, task: Task) -> dict[str, Any]:
        config, checkpoint = vqgan_files(weights.require("llm-cxr-vqgan"), self.settings["vqgan_config"],
                                         self.settings["vqgan_checkpoint"])
        keys = ("top_p", "top_k", "max_new_tokens_report", "max_new_tokens_image", "image_attempts")
        return {"model": str(weights.require("llm-cxr")), "vqgan_config": str(config),
                "vqgan_checkpoint": str(checkpoint), **{k: self.settings[k] for k in keys}}


def vqgan_files(folder: Path, config: str | None, checkpoint: str | None) -> tuple[Path, Path]:
    """The VQ-GAN's *.yaml and *.ckpt inside its folder: the named ones, else the release's `*-compat` pair (what
    LLM-CXR's README and scripts name), else the only ones."""
    def pick(name: str | None, pattern: str) -> Path:
        if name:
            path = folder / name
            if not path.is_file():
                raise FileNotFoundError(f"{path} does not exist")
            return path
        found = sorted(folder.rglob(pattern))
        preferred = [p for p in found if p.stem.endswith("-compat")]
        if len(preferred) == 1:
            return preferred[0]
        if len(found) != 1:
            option = "vqgan_config" if pattern == "*.yaml" else "vqgan_checkpoint"
            raise FileNotFoundError(f"expected one {pattern} in {folder}, found {[str(p) for p in found] or 'none'}; "
                                    f"name the right one with the llm-cxr option {option}")
        return found[0]
    return pick(config, "*.yaml"), pick(checkpoint, "*.ckpt")
