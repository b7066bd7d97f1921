"""`codi`: CoDi (Tang et al., 2023; microsoft/i-Code, i-Code-V3), the general-purpose any-to-any model XGeM was forked
from, as a non-medical baseline, run through the reference-model classes (CoDi and XGeM share module names and
checkpoint layout).

**View mapping.** CoDi has a single image modality. Both F and L map onto it: generating F or L uses CoDi's one
vision UNet, and a frontal or lateral condition goes through CoDi's one CLIP image tower. So T->F and T->L are the
same computation (same output for the same seed), and F->L / L->F are "image -> image". `settings()` records this as
`view_mapping`, so results say what the numbers mean. Joint tasks are not declared: CoDi would have to produce two
different views from one image modality.

**Loading.** CoDi's three released files (`CoDi_encoders.pth`: CLIP + AutoKL + Optimus; `CoDi_video_diffuser_8frames.pth`:
the vision UNet under `model.diffusion_model.unet_image`; `CoDi_text_diffuser.pth`: `model.diffusion_model.unet_text`)
are merged into the key layout of XGeM's official checkpoint, the vision UNet serving as both `unet_frontal` and
`unet_lateral`, and handed to the reference model's official-checkpoint converter (`CONVERTER` below), which drops
the video layers and maps the keys onto our modules.

**CoDi's own inference conventions** (i-Code-V3 `core/models/model_module_infer.py`, `encoders/clip.py`,
`vae/optimus.py`, `common/utils.py`), each recorded by `settings()`:
- Sampling is XGeM's (DDIM 50 steps, guidance 7.5, eta 0), as CoDi's `inference()` defaults.
- Image conditions enter CLIP as [0, 1] images: `inference()` passes 2x-1, but the CLIP wrapper
  (`encode_vision_noproj`) maps them back with (x+1)/2 before CLIPProcessor; only the resampling differs (PIL bicubic
  there, the reference prompt encoder's antialiased torch bicubic here).
- The unconditional image prompt is CLIP of `zeros_like` the condition in [-1, 1], which that same (x+1)/2 turns into
  a uniform mid-grey (0.5) image; XGeM's wrapper has no such mapping and sees black.
- Report prompts reach CLIP raw (no punctuation stripping): `clip_text` is `raw` unless set otherwise.
- Text decoding stops at 30 tokens counted with <BOS> and the forced <EOS> (`sample_single_sequence_conditional`,
  max_length=30), i.e. at most 28 report tokens, and is followed by the adjacent-word merge and
  `remove_duplicate_word` (a repeated phrase of any length directly after itself is dropped).
- `regularize_image` flips every image condition left-right with probability 0.5 (torchvision's
  RandomHorizontalFlip, also at inference). Option `random_flip` (off by default) reproduces it with a per-study
  seeded coin; off because it makes a CXR condition's laterality random and the output depend on a coin upstream
  draws from the global RNG.

Options: `config` (`paper`, CoDi's sizes; or the path of an xgem_config.json for CoDi-format files of another size,
which is how the tests load small CoDi files), `steps`, `guidance`, `eta`, `decoding`, `mix_weights`, `clip_text`
(as `xgem`), `random_flip`.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

from xgem_bench import weights
from xgem_bench.adapters.xgem import XGeMAdapter
from xgem_bench.weights_catalog.xgem import TOKENIZER_WEIGHTS
from xgem_bench.tasks import SINGLE_OUTPUT_TASKS, Modality, Task

#: CoDi file role -> weights-catalog name
CODI_WEIGHTS = {"encoders": "codi-encoders", "vision": "codi-vision-diffuser", "text": "codi-text-diffuser"}
#: the reference model's converter: (state dict in the official XGeM layout, config, tokenizers) -> XGeM
CONVERTER = "xgem_bench.reference_model.convert:convert_official"
VISION_PREFIX = "model.diffusion_model.unet_image."
VIEW_PREFIXES = ("model.diffusion_model.unet_frontal.", "model.diffusion_model.unet_lateral.")
TEXT_PREFIX = "model.diffusion_model.unet_text."
#: CoDi's decoding cap: 30 tokens with <BOS> and the <EOS> that replaces the 30th, so 28 report tokens
MAX_REPORT_TOKENS = 28
#: CoDi's unconditional image: zeros in [-1, 1] seen through the CLIP wrapper's (x + 1) / 2
BLANK_IMAGE_LEVEL = 0.5


def official_layout(encoders: Mapping[str, Any], vision: Mapping[str, Any], text: Mapping[str, Any]) -> dict[str, Any]:
    """CoDi's three state dicts as one state dict in XGeM's MedCoDi-M.pt layout (tensors shared, not copied)."""
    # the audio encoders (CLAP, AudioLDM) in the same file have no part in chest X-rays and reports
    state = {k: v for k, v in encoders.items() if k.split(".")[0] in ("clip", "autokl", "optimus")}
    missing = [p for p in ("clip", "autokl", "optimus") if not any(k.startswith(p + ".") for k in state)]
    if missing:
        raise ValueError(f"not CoDi_encoders.pth: no keys under {', '.join(p + '.' for p in missing)}")
    for name, part, prefix in (("vision", vision, VISION_PREFIX), ("text", text, TEXT_PREFIX)):
        inside = [k for k in part if k.startswith(prefix)]
        if not inside:
            raise ValueError(f"not CoDi's {name} diffuser: no keys under {prefix}")
        for key in inside:
            rest = key[len(prefix):]
            for target in (VIEW_PREFIXES if name == "vision" else (TEXT_PREFIX,)):
                state[target + rest] = part[key]
    return state


def _converter() -> Callable | None:
    module, function = CONVERTER.split(":")
    try:
        return getattr(importlib.import_module(module), function, None)
    except ImportError:
        return None


class CoDiAdapter(XGeMAdapter):
    name = "codi"
    version = "1"
    description = "CoDi any-to-any (general-domain; F and L both map to its one image modality)"
    tasks = tuple(t.name for t in SINGLE_OUTPUT_TASKS)
    weights = tuple(CODI_WEIGHTS.values()) + tuple(TOKENIZER_WEIGHTS.values())  # CoDi uses the standard tokenizers

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        # connector_context stays None: it only matters for joint tasks, which CoDi does not declare here
        # config: CoDi's architecture, the `paper` sizes (ViT-L/14 CLIP, SD-1 VAE and UNet, Optimus, the 0-D text
        # UNet); an xgem_config.json path loads CoDi-format files of another size
        return {"config": "paper", "steps": 50, "guidance": 7.5, "eta": 0.0, "decoding": "sample",
                "mix_weights": None, "connector_context": None, "clip_text": None, "random_flip": False,
                "dtype": "fp32"}

    def clip_text(self) -> str:
        return super().clip_text() if self.settings["clip_text"] is not None else "raw"

    @classmethod
    def supports(cls, task: Task) -> bool:
        return task in cls.supported_tasks()

    def recorded_settings(self) -> dict[str, Any]:
        return {**super().recorded_settings(),
                "view_mapping": "F and L -> CoDi's single image modality (one vision UNet, one CLIP image tower): "
                                "T->F equals T->L", "image_output": "channel 0",
                "image_condition": "[0, 1] into the reference prompt encoder's CLIP preprocessing (CoDi: the same "
                                   "range, PIL bicubic resize)",
                "unconditional_image": f"uniform {BLANK_IMAGE_LEVEL} (CoDi's zeros in [-1, 1])",
                "max_report_tokens": MAX_REPORT_TOKENS,
                "text_postprocess": "merge repeated adjacent words, then CoDi's remove_duplicate_word"}

    def unavailable_reason(self) -> str | None:
        for name in self.weights:  # the tokenizer entries belong to the reference model's catalog (issue 5)
            if name not in weights.catalog():
                return f"weight {name!r} is not in the weights catalog of this installation"
        reason = super(XGeMAdapter, self).unavailable_reason()  # packages and weights
        if reason:
            return reason
        if _converter() is None:
            return (f"CoDi loads through the reference model's official-checkpoint converter ({CONVERTER}), "
                    "which this installation does not have")
        return None

    def checkpoint_id(self) -> str:
        return super(XGeMAdapter, self).checkpoint_id()  # the recorded checksums of the CoDi files

    def setup(self, context) -> None:
        import torch

        reason = self.unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        from xgem_bench.reference_model.config import PRESETS, XGeMConfig, get_config
        from xgem_bench.reference_model.tokenizer import pretrained_tokenizers

        parts = {role: torch.load(weights.require(name), map_location="cpu", weights_only=True)
                 for role, name in CODI_WEIGHTS.items()}
        name = self.settings["config"]
        config = get_config(name) if name in PRESETS else XGeMConfig.load(name)
        tokenizers = pretrained_tokenizers(config.clip.max_length, config.text_vae.max_length)
        state = official_layout(parts["encoders"], parts["vision"], parts["text"])
        self.model = _converter()(state, config, tokenizers).to(context.device).eval()
        self.model.tokenizers.clip.clip_cleaning = self.clip_text() == "clean"
        self.model.blank_image_level = BLANK_IMAGE_LEVEL

    def generate(self, studies, task: Task, seeds):
        if not self.supports(task):
            raise ValueError(f"codi does not support {task}")
        if self.settings["random_flip"]:
            studies = [flipped_conditions(s, task, seed) for s, seed in zip(studies, seeds)]
        outputs = super().generate(studies, task, seeds, max_report_tokens=MAX_REPORT_TOKENS)
        for output in outputs:
            if Modality.REPORT in output:
                output[Modality.REPORT] = remove_repeated_phrases(merge_repeated_words(output[Modality.REPORT]))
        return outputs


def flipped_conditions(study, task: Task, seed: int):
    """The study with each image input flipped left-right on a fair coin seeded by the study's seed (CoDi's
    RandomHorizontalFlip in `regularize_image`, made reproducible)."""
    import dataclasses

    import numpy as np

    rng = np.random.default_rng([int(seed), 0xF11])
    changes = {m.field: np.ascontiguousarray(study.get(m)[:, ::-1]) for m in task.inputs
               if m.is_image and study.get(m) is not None and rng.random() < 0.5}
    return dataclasses.replace(study, **changes) if changes else study


def merge_repeated_words(text: str) -> str:
    """CoDi's text decoding post-processing (model_module_infer.decode, prompt_merge_same_adj_word=True): a word
    equal to the one before it is dropped."""
    words = text.split()
    return " ".join(w for i, w in enumerate(words) if i == 0 or w != words[i - 1])


_OPENING = "([{"
_CLOSING = "?!.,:;}])"
_GLUE = "<puncnext>"


def _split_punctuation(text: str) -> list[str]:
    """Words, with opening brackets and closing punctuation split off as their own tokens, each joined to its word by
    a glue marker (CoDi's `split_and_puncsplit`)."""
    tokens: list[str] = []
    for word in text.split(" "):
        while word and word[0] in _OPENING:
            tokens += [word[0], _GLUE]
            word = word[1:]
        if not word:
            continue
        tail: list[str] = []
        while word and word[-1] in _CLOSING:
            tail = [_GLUE, word[-1]] + tail
            word = word[:-1]
        tokens += ([word] if word else []) + tail
    return tokens


def remove_repeated_phrases(text: str) -> str:
    """CoDi's `remove_duplicate_word`: for phrase lengths n = 1, 2, ... while n is below the token count, the first
    phrase of n tokens directly followed by itself loses its copy, rescanning from the start until none is left;
    the glue markers then join punctuation back to its word."""
    if text == "":
        return text
    tokens = _split_punctuation(text)
    n = 1
    while len(tokens) > n:
        i = 0
        while i + 2 * n <= len(tokens):
            if tokens[i: i + n] == tokens[i + n: i + 2 * n]:
                del tokens[i + n: i + 2 * n]
                i = 0
            else:
                i += 1
        n += 1
    return " ".join(tokens).replace(f" {_GLUE} ", "")
