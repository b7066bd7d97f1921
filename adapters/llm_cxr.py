"""`llm-cxr`: LLM-CXR (Lee et al., 2023), dolly-v2-3b instruction-tuned to read and write 16x16 VQ-GAN codes.

Frontal only (trained on PA/AP views): T->F and F->T. Upstream pins torch 1.13 and runs its VQ-GAN through
taming-transformers, possibly in a second environment, so this is a subprocess adapter with two interpreters:

    -o llm-cxr.repo=~/llm-cxr -o llm-cxr.python=~/envs/llmcxr/bin/python
    [-o llm-cxr.vq_python=~/envs/taming/bin/python -o llm-cxr.taming_repo=~/taming-transformers]

F->T: VQ-GAN encode (vq_python) -> LLM generate (python). T->F: LLM generate -> VQ-GAN decode. Sampling follows
generate_eval.py (do_sample, top_p 0.92, top_k 0; 128 new tokens for reports, 300 for images, the image retried
until it has 256 codes: upstream retries forever, here at most `image_attempts` times). The instruction sentence is
drawn from upstream's list with the study's seed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from xgem_bench import weights
from xgem_bench.adapters.subprocess_protocol import Stage, SubprocessAdapter
from xgem_bench.tasks import Modality, Task


class LLMCXRAdapter(SubprocessAdapter):
    name = "llm-cxr"
    version = "1"
    description = "LLM-CXR (frontal only; subprocess, LLM + VQ-GAN environments)"
    tasks = ("T->F", "F->T")
    weights = ("llm-cxr", "llm-cxr-vqgan")
    driver = "llm_cxr_driver.py"
    repo_markers = ("training/generate.py", "training/mimiccxr_vq_dataset.py", "training/consts.py")
    runtime_options = SubprocessAdapter.runtime_options + ("vq_python", "taming_repo")

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {**super().default_options(),
                "vq_python": None,  # interpreter with taming-transformers; default: the same as `python`
                "taming_repo": None,  # a taming-transformers checkout, when it is not installed in that env
                "top_p": 0.92, "top_k": 0, "max_new_tokens_report": 128, "max_new_tokens_image": 300,
                "image_attempts": 10,
                "vqgan_config": None, "vqgan_checkpoint": None}  # inside the llm-cxr-vqgan folder; default: found

    def stages(self, task: Task) -> list[Stage]:
        vq = Stage("vq_encode" if Modality.FRONTAL in task.inputs else "vq_decode",
                   "vq_python" if self.options["vq_python"] else "python")
        llm = Stage("llm_generate")
        return [vq, llm] if vq.name == "vq_encode" else [llm, vq]

    def pythonpath(self) -> list[Path]:
        extra = [Path(self.options["taming_repo"]).expanduser().resolve()] if self.options["taming_repo"] else []
        return super().pythonpath() + extra

    def driver_options(self, task: Task) -> dict[str, Any]:
        config, checkpoint = vqgan_files(weights.require("llm-cxr-vqgan"), self.options["vqgan_config"],
                                         self.options["vqgan_checkpoint"])
        keys = ("top_p", "top_k", "max_new_tokens_report", "max_new_tokens_image", "image_attempts")
        return {"model": str(weights.require("llm-cxr")), "vqgan_config": str(config),
                "vqgan_checkpoint": str(checkpoint), **{k: self.options[k] for k in keys}}


def vqgan_files(folder: Path, config: str | None, checkpoint: str | None) -> tuple[Path, Path]:
    """The VQ-GAN's *.yaml and *.ckpt inside its folder: the named ones, else the only ones (last.ckpt preferred)."""
    def pick(name: str | None, pattern: str, prefer: str | None = None) -> Path:
        if name:
            path = folder / name
            if not path.is_file():
                raise FileNotFoundError(f"{path} does not exist")
            return path
        found = sorted(folder.rglob(pattern))
        preferred = [p for p in found if p.name == prefer]
        if len(preferred) == 1:
            return preferred[0]
        if len(found) != 1:
            option = "vqgan_config" if pattern == "*.yaml" else "vqgan_checkpoint"
            raise FileNotFoundError(f"expected one {pattern} in {folder}, found {[str(p) for p in found] or 'none'}; "
                                    f"name the right one with the llm-cxr option {option}")
        return found[0]
    return pick(config, "*.yaml"), pick(checkpoint, "*.ckpt", prefer="last.ckpt")
