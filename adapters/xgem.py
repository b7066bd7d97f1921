"""`xgem`: our reference XGeM (reference_model/), any of the twelve paper tasks, from a checkpoint folder written by
`xgem-bench train` or from the official MedCoDi-M.pt (converted on load).

Options: `config` (tiny | tiny128 | paper: the default checkpoint folder), `checkpoint` (a folder; "official": the
authors' weights from the weights manager; "demo": the bundled `tiny128` demo checkpoint, reference_model/
demo_checkpoint.py, from the weights manager), `steps` (DDIM, 50), `guidance` (CFG scale, 7.5), `eta` (0 = the wrapper's
deterministic DDIM; the public demo uses 1), `decoding` (sample | greedy | beam), `connector_context` (self | others;
null = the checkpoint's), `mix_weights` (modality -> weight of the prompt interpolation; null = uniform),
`clip_text` (what the CLIP text tower reads: `raw`, the report as given, which is what the public code's inference
passes to CLIPTokenizer; `clean`, punctuation stripped and lower-cased, the public code's CLIP-training cleaning and
what our own training uses; null = `raw` for checkpoint=official, `clean` for checkpoints trained here), `dtype`
(fp32 | bf16 | fp16: the denoising, encoders and decoders run under torch.autocast at that precision; weights stay
fp32, so it saves time on a GPU, not weight memory).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

from xgem_bench.adapters.base import Adapter, AdapterContext
from xgem_bench.reference_model import demo_checkpoint
from xgem_bench.reference_model.demo_checkpoint import SETTING as DEMO, WEIGHT_NAME as DEMO_WEIGHT
from xgem_bench.tasks import PAPER_TASKS, Modality, Task

OFFICIAL = "official"
_FIELDS = {Modality.FRONTAL: "frontal", Modality.LATERAL: "lateral", Modality.REPORT: "report"}
CLIP_TEXT = ("raw", "clean")
DTYPES = ("fp32", "bf16", "fp16")


class XGeMAdapter(Adapter):
    name = "xgem"
    version = "1"
    description = "reference XGeM (Multi-Prompt Training + cross-modal latent alignment), reference_model/"
    tasks = tuple(t.name for t in PAPER_TASKS)
    packages = ("diffusers", "transformers", "tokenizers", "safetensors")
    #: which LDM/alignment weights of the checkpoint folder this adapter uses
    variant = "xgem"

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        return {"config": "tiny", "checkpoint": None, "steps": 50, "guidance": 7.5, "eta": 0.0,
                "decoding": "sample", "connector_context": None, "mix_weights": None, "clip_text": None, "dtype": "fp32"}

    def clip_text(self) -> str:
        """How report prompts reach CLIP (see the module docstring), resolved."""
        mode = self.settings["clip_text"]
        if mode is None:
            return "raw" if self.settings.get("checkpoint") == OFFICIAL else "clean"
        if mode not in CLIP_TEXT:
            raise ValueError(f"option clip_text={mode!r}: use one of {', '.join(CLIP_TEXT)} (or leave it unset)")
        return mode

    def recorded_settings(self) -> dict[str, Any]:
        return {**self.settings, "clip_text": self.clip_text()}

    @classmethod
    def supports(cls, task: Task) -> bool:
        return True  # any valid combination of F, L, T works with the same model

    def checkpoint_dir(self) -> Path:
        from xgem_bench.reference_model.layout import default_checkpoint
        if self.settings["checkpoint"] == DEMO:
            return demo_checkpoint.installed_path()
        return Path(self.settings["checkpoint"]).expanduser() if self.settings["checkpoint"] \
            else default_checkpoint(self.settings["config"])

    def _train_command(self) -> str:
        extra = "" if self.settings["checkpoint"] is None else f" --checkpoint {self.settings['checkpoint']}"
        return f"xgem-bench train all --config {self.settings['config']} --variant {self.variant}{extra}"

    def unavailable_reason(self) -> str | None:
        reason = super().unavailable_reason()
        if reason:
            return reason
        if self.settings["checkpoint"] == OFFICIAL:
            from xgem_bench.reference_model.convert import official_missing_reason
            return official_missing_reason(self.variant)
        if self.settings["checkpoint"] == DEMO and (reason := demo_checkpoint.missing_reason()):
            return reason
        from xgem_bench.reference_model.layout import missing_stages
        missing = missing_stages(self.checkpoint_dir(), self.variant)
        if missing:
            names = ", ".join(sorted({s + (f" {m}" if m else "") for s, m in missing}))
            return (f"no trained {self.settings['config']} XGeM checkpoint ({self.variant}) at {self.checkpoint_dir()} "
                    f"(missing: {names}); run `{self._train_command()}`")
        return None

    def checkpoint_id(self) -> str:
        if self.settings["checkpoint"] == OFFICIAL:
            from xgem_bench import weights
            return f"xgem-official={weights.checksum('xgem-official')}"
        if self.settings["checkpoint"] == DEMO:
            from xgem_bench import weights
            return f"{DEMO_WEIGHT}={weights.checksum(DEMO_WEIGHT)}"
        root = self.checkpoint_dir()
        digest = hashlib.sha256()
        for path in sorted(root.rglob("*.safetensors")) + sorted(root.rglob("stage.json")):
            if self.variant in path.parts or not {"ldm", "align"} & set(path.relative_to(root).parts):
                stat = path.stat()
                digest.update(f"{path.relative_to(root)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
        return digest.hexdigest()[:16]

    def _precision(self):
        import contextlib

        import torch
        dtype = self.settings["dtype"]
        if dtype not in DTYPES:
            raise ValueError(f"option dtype={dtype!r}: use one of {', '.join(DTYPES)}")
        if dtype == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.model.device.type, dtype=torch.bfloat16 if dtype == "bf16" else torch.float16)

    def setup(self, context: AdapterContext) -> None:
        reason = self.unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        if self.settings["checkpoint"] == OFFICIAL:
            from xgem_bench.reference_model.convert import load_official
            self.model = load_official(device=context.device)
        else:
            from xgem_bench.reference_model.model import XGeM
            if self.settings["checkpoint"] == DEMO:
                from xgem_bench import weights
                weights.verify(DEMO_WEIGHT)  # the bundled folder's sha256, before anything loads it
            self.model = XGeM.load(self.checkpoint_dir(), self.variant, device=context.device)
        self.model.tokenizers.clip.clip_cleaning = self.clip_text() == "clean"

    def generate(self, studies, task: Task, seeds: Sequence[int],
                 max_report_tokens: int | None = None) -> list[dict[Modality, Any]]:
        inputs = {_FIELDS[m]: [s.get(m) for s in studies] for m in task.inputs}
        for field, values in inputs.items():
            if any(v is None for v in values):
                raise ValueError(f"task {task.name} needs the {field} input for every study")
        o = self.settings
        with self._precision():
            result = self.model.generate(inputs, [_FIELDS[m] for m in task.outputs], seeds, steps=o["steps"],
                                         guidance=o["guidance"], eta=o["eta"], strategy=o["decoding"],
                                         mix_weights=o["mix_weights"],
                                         connector_context=o["connector_context"],
                                         max_report_tokens=max_report_tokens)
        return [{m: result[_FIELDS[m]][i] for m in task.outputs} for i in range(len(studies))]
