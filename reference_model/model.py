"""The assembled XGeM: component builders, the checkpoint folder, and generation for any task.

Checkpoint folder (one per configuration, several variants share the prompt encoders and the VAEs):

    xgem_config.json             the XGeMConfig (measured latent scales included)
    tokenizer.json               `tiny` only: the locally trained WordPiece vocabulary
    clip/                        transformers CLIPModel.save_pretrained
    image-vae/                   diffusers AutoencoderKL.save_pretrained
    text-vae/                    config.json + model.safetensors (OptimusVAE)
    ldm/<variant>/frontal|lateral/   diffusers UNet2DConditionModel.save_pretrained
    ldm/<variant>/report/        config.json + model.safetensors (ReportUNet)
    align/<variant>/<modality>/  config.json + model.safetensors (environment encoder + connectors)

Variants: `xgem` (LDMs trained with Multi-Prompt Training) and `codi-xr` (without: the paper's ablation).
Every stage folder also holds `stage.json` (what trained it) and `loss_log.csv`.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, UNet2DConditionModel
from safetensors.torch import load_model, save_model
from torch import nn
from transformers import CLIPModel

from xgem_bench.reference_model.alignment import AlignBranch, build_branch
from xgem_bench.reference_model.config import MODALITIES, XGeMConfig
from xgem_bench.reference_model.diffusion import sample_joint
# the checkpoint layout lives in a torch-free module (fast availability checks); re-exported for existing callers
from xgem_bench.reference_model.layout import (component_dir, default_checkpoint, is_trained,  # noqa: F401
                                               missing_stages)
from xgem_bench.reference_model.prompt_encoder import PromptEncoder, build_clip
from xgem_bench.reference_model.report_unet import ReportUNet
from xgem_bench.reference_model.text_vae import OptimusVAE
from xgem_bench.reference_model.tokenizer import ReportTokenizers, load_tokenizers

log = logging.getLogger(__name__)

VARIANTS = {"xgem": True, "codi-xr": False}  # variant -> multi-prompt training on/off
OUTPUT_SIZE = 256
CODES = {"frontal": "F", "lateral": "L", "report": "T"}


def variant_of(multi_prompt: bool) -> str:
    return "xgem" if multi_prompt else "codi-xr"


# ---------------------------------------------------------------------------------------------- builders


def build_image_vae(config: XGeMConfig) -> AutoencoderKL:
    c = config.image_vae
    n = len(c.block_out_channels)
    return AutoencoderKL(in_channels=c.channels, out_channels=c.channels, latent_channels=c.latent_channels,
                         block_out_channels=c.block_out_channels, layers_per_block=c.layers_per_block,
                         down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
                         norm_num_groups=c.norm_num_groups, sample_size=c.image_size,
                         scaling_factor=c.scaling_factor or 1.0, mid_block_add_attention=c.mid_attention)


def build_xray_unet(config: XGeMConfig) -> UNet2DConditionModel:
    c = config.xray_unet
    down = tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in c.attention_levels)
    up = tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(c.attention_levels))
    return UNet2DConditionModel(sample_size=config.latent_size, in_channels=config.image_vae.latent_channels,
                                out_channels=config.image_vae.latent_channels, block_out_channels=c.block_out_channels,
                                layers_per_block=c.layers_per_block, down_block_types=down, up_block_types=up,
                                cross_attention_dim=config.shared_dim, attention_head_dim=c.attention_head_dim,
                                norm_num_groups=c.norm_num_groups, flip_sin_to_cos=True, freq_shift=0)


def build_unet(modality: str, config: XGeMConfig) -> nn.Module:
    if modality == "report":
        return ReportUNet(config.report_unet, config.text_vae.latent_dim, config.shared_dim)
    return build_xray_unet(config)


def build_text_vae(config: XGeMConfig, tokenizers: ReportTokenizers | None = None) -> OptimusVAE:
    pads = (tokenizers.encoder.pad_id, tokenizers.decoder.pad_id) if tokenizers else (0, 0)
    return OptimusVAE(config.text_vae, *pads)


def build_prompt_encoder(config: XGeMConfig, tokenizers: ReportTokenizers) -> PromptEncoder:
    return PromptEncoder(build_clip(config.clip, tokenizers.clip), tokenizers.clip)


# ---------------------------------------------------------------------------------------------- checkpoint IO


def save_component(module: nn.Module, folder: Path, meta: dict[str, Any] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if hasattr(module, "save_pretrained"):  # diffusers / transformers modules keep their native format
        module.save_pretrained(folder)
    else:
        save_model(module, str(folder / "model.safetensors"))
        (folder / "config.json").write_text(json.dumps({"class": type(module).__name__, **(meta or {})}, indent=1))


def load_weights(module: nn.Module, folder: Path) -> nn.Module:
    for name in ("model.safetensors", "diffusion_pytorch_model.safetensors"):
        if (folder / name).is_file():
            load_model(module, str(folder / name), strict=True)
            return module
    raise FileNotFoundError(f"no weights in {folder}")


def load_hub_vae(vae: AutoencoderKL, path: Path) -> AutoencoderKL:
    """Weights of an SD-1.x VAE file from the hub into `vae`, strictly. Those files (CompVis/stable-diffusion-v1-4
    `vae/diffusion_pytorch_model.safetensors`) keep the attention names of diffusers < 0.14 (`query`, `key`, `value`,
    `proj_attn`), which a raw load_state_dict refuses; diffusers' own loader renames them on load (the hook
    `from_pretrained` applies), and so do we. Files already in the new names load unchanged."""
    from safetensors.torch import load_file

    state = vae._fix_state_dict_keys_on_load(dict(load_file(str(path))))
    missing, unexpected = vae.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path} is not an SD-1 kl-f8 VAE for this configuration: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}; fetch it again with `xgem-bench weights fetch sd-vae-kl-f8`")
    return vae


#: the key of the report latent scale in text-vae/config.json, saved beside the weights it belongs to
TEXT_SCALE_KEY = "latent_scale"


def saved_text_scale(folder: Path, config: XGeMConfig) -> float:
    """The report latent scale the text VAE in `folder` was saved with. A text VAE saved before the scale was kept
    beside it falls back to the checkpoint configuration's value, which is what its LDMs were trained with."""
    meta = json.loads((Path(folder) / "config.json").read_text())
    if TEXT_SCALE_KEY in meta:
        return float(meta[TEXT_SCALE_KEY])
    log.warning(f"{folder} has no saved text latent scale (trained before it was saved there): using the "
                f"configuration's {config.text_vae.latent_scale}; retrain the text-vae stage to measure it")
    return float(config.text_vae.latent_scale)


def load_config(root: Path) -> XGeMConfig:
    path = Path(root) / "xgem_config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{root} is not an XGeM checkpoint folder (no xgem_config.json)")
    return XGeMConfig.load(path)


# ---------------------------------------------------------------------------------------------- the model


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """[B,H,W] -> [B,1,size,size], antialiased (area-like when shrinking)."""
    x = images.unsqueeze(1).float()
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


class XGeM(nn.Module):
    """Prompt encoders, the three LDMs with their VAEs, and (for joint tasks) the alignment branches."""

    def __init__(self, config: XGeMConfig, tokenizers: ReportTokenizers, prompt: PromptEncoder,
                 image_vae: AutoencoderKL | None, text_vae: OptimusVAE | None, unets: dict[str, nn.Module],
                 branches: dict[str, AlignBranch] | None = None):
        super().__init__()
        self.config, self.tokenizers = config, tokenizers
        self.prompt, self.image_vae, self.text_vae = prompt, image_vae, text_vae
        self.unets = nn.ModuleDict(unets)
        self.branches = nn.ModuleDict(branches or {})
        for m, branch in self.branches.items():
            branch.attach(self.unets[m])
        self._null: dict[tuple[str, float], torch.Tensor] = {}
        #: grey level of the blank image whose CLIP embedding is the unconditional X-ray prompt (XGeM: 0, black)
        self.blank_image_level = 0.0

    @property
    def device(self) -> torch.device:
        return self.prompt.device

    # ---- loading
    @classmethod
    def load(cls, root: Path, variant: str = "xgem", modalities: Sequence[str] = MODALITIES, joint: bool = True,
             device: str = "cpu") -> "XGeM":
        root = Path(root)
        missing = missing_stages(root, variant, modalities, joint)
        if missing:
            raise FileNotFoundError(f"XGeM checkpoint {root} ({variant}) lacks trained stage(s) "
                                    f"{', '.join(s + (':' + m if m else '') for s, m in missing)}")
        config = load_config(root)
        tokenizers = load_tokenizers(config, root)
        prompt = PromptEncoder(CLIPModel.from_pretrained(root / "clip"), tokenizers.clip)
        image_vae = AutoencoderKL.from_pretrained(root / "image-vae") if any(m != "report" for m in modalities) \
            else None
        text_vae = None
        if "report" in modalities:
            text_vae = load_weights(build_text_vae(config, tokenizers), root / "text-vae")
            config.text_vae.latent_scale = saved_text_scale(root / "text-vae", config)
        unets = {}
        for m in modalities:
            folder = component_dir(root, "ldm", m, variant)
            unets[m] = (UNet2DConditionModel.from_pretrained(folder) if m != "report"
                        else load_weights(build_unet(m, config), folder))
        branches = None
        if joint:  # the connector context the alignment was trained with
            saved = json.loads((component_dir(root, "align", modalities[0], variant) / "config.json").read_text())
            config.align.connector_context = saved["align"]["connector_context"]
            branches = {m: load_weights(build_branch(m, unets[m], config), component_dir(root, "align", m, variant))
                        for m in modalities}
        return cls(config, tokenizers, prompt, image_vae, text_vae, unets, branches).to(device).eval()

    # ---- encoders
    def image_input(self, images: torch.Tensor) -> torch.Tensor:
        """[B,H,W] in [0,1] -> the VAE's input: model resolution, `channels` channels, [-1, 1]."""
        c = self.config.image_vae
        x = _resize(images.to(self.device), c.image_size)
        return (x * 2 - 1).expand(-1, c.channels, -1, -1)

    def image_posterior(self, images: torch.Tensor):
        return self.image_vae.encode(self.image_input(images)).latent_dist

    def report_mu(self, reports: Sequence[str]) -> torch.Tensor:
        ids, mask = self.tokenizers.encoder.encode(reports)
        return self.text_vae.encode(ids.to(self.device), mask.to(self.device))[0]

    @property
    def image_scale(self) -> float:
        return float(self.config.image_vae.scaling_factor)

    @property
    def text_scale(self) -> float:
        return float(self.config.text_vae.latent_scale)

    def prompt_embeddings(self, modality: str, values: Sequence) -> torch.Tensor:
        if modality == "report":
            return self.prompt.encode_texts(list(values))
        return self.prompt.encode_images(torch.stack([torch.as_tensor(np.asarray(v), dtype=torch.float32)
                                                      for v in values]))

    def null_embedding(self, modality: str) -> torch.Tensor:
        key = (modality, self.blank_image_level)
        if key not in self._null:
            self._null[key] = self.prompt.null_embedding(modality, self.config.clip.image_size, self.blank_image_level)
        return self._null[key]

    def conditioning(self, inputs: dict[str, Sequence],
                     mix_weights: dict[str, float] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(cond, uncond) [B, D]: the prompts' shared-space vectors and the unconditional ones, each mixed with the
        weights normalised to sum 1 (uniform unless `mix_weights` says otherwise), as the public sampler mixes them."""
        weights = {m: float((mix_weights or {}).get(m, 1.0)) for m in inputs}
        total = sum(weights.values())
        cond = sum(weights[m] / total * self.prompt_embeddings(m, inputs[m]) for m in inputs)
        uncond = sum(weights[m] / total * self.null_embedding(m) for m in inputs).expand_as(cond)
        return cond, uncond

    # ---- decoders
    def decode_images(self, z: torch.Tensor) -> np.ndarray:
        x = self.image_vae.decode(z / self.image_scale).sample
        x = ((x[:, :1] + 1) / 2).clamp(0, 1)  # channel 0, as the public demo
        x = _resize(x[:, 0], OUTPUT_SIZE).clamp(0, 1)
        return x[:, 0].float().cpu().numpy().astype(np.float32)

    def decode_reports(self, z: torch.Tensor, strategy: str = "sample", seeds: Sequence[int] | None = None,
                       max_length: int | None = None) -> list[str]:
        dec = self.tokenizers.decoder
        generators = [torch.Generator().manual_seed(int(s) + 1) for s in seeds] if seeds is not None else None
        ids = self.text_vae.decode(z / self.text_scale, dec.start_id, dec.end_id,
                                   max_length or self.config.text_vae.max_length, strategy, generators)
        return [dec.decode(row) for row in ids]

    # ---- generation
    @torch.inference_mode()
    def generate(self, inputs: dict[str, Sequence], outputs: Sequence[str], seeds: Sequence[int],
                 steps: int | None = None, guidance: float | dict[str, float] | None = None, eta: float | None = None,
                 strategy: str = "sample", mix_weights: dict[str, float] | None = None,
                 connector_context: str | None = None, progress: bool = False,
                 max_report_tokens: int | None = None) -> dict[str, list]:
        """inputs: modality -> one value per study (grey [H,W] arrays in [0,1] or report strings).
        max_report_tokens: decoding cap (tokens without <BOS>/<EOS>; default the configuration's max_length)."""
        cfg = self.config.diffusion
        outputs = sorted(outputs, key=MODALITIES.index)
        if set(inputs) & set(outputs) or not inputs or not outputs:
            raise ValueError("inputs and outputs must be non-empty and disjoint")
        if len(outputs) > 1 and not self.branches:
            raise ValueError("joint generation needs the alignment stage (load with joint=True)")
        cond, uncond = self.conditioning(inputs, mix_weights)
        shapes = {m: (self.config.text_vae.latent_dim,) if m == "report" else
                  (self.config.image_vae.latent_channels, self.config.latent_size, self.config.latent_size)
                  for m in outputs}
        scale = guidance if guidance is not None else cfg.guidance_scale
        scales = scale if isinstance(scale, dict) else {m: float(scale) for m in outputs}
        latents = sample_joint({m: self.unets[m] for m in outputs},
                               {m: self.branches[m] for m in outputs} if len(outputs) > 1 else None,
                               shapes, cond, uncond, seeds, cfg, steps or cfg.sampling_steps, scales,
                               cfg.eta if eta is None else eta,
                               connector_context or self.config.align.connector_context, progress)
        result: dict[str, list] = {}
        for m in outputs:
            if m == "report":
                result[m] = self.decode_reports(latents[m], strategy, seeds, max_report_tokens)
            else:
                result[m] = list(self.decode_images(latents[m]))
        return result
