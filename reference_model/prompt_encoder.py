"""Prompt encoders and the shared latent space (spec §2, paper §2.1).

One CLIP vision tower encodes both views, the CLIP text tower encodes reports; each input becomes one L2-normalised
vector (pooled output -> projection). Training is the symmetric InfoNCE between image (F or L) and report ("bridging
through text"), CLIP's learnable temperature clamped to [0, ln 100].
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import CLIPConfig, CLIPModel

from xgem_bench.reference_model.config import ClipConfig
from xgem_bench.reference_model.tokenizer import RoleTokenizer

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def build_clip(config: ClipConfig, tokenizer: RoleTokenizer | None = None) -> CLIPModel:
    text = dict(hidden_size=config.text_hidden, num_hidden_layers=config.text_layers,
                num_attention_heads=config.text_heads, intermediate_size=config.text_intermediate,
                vocab_size=config.text_vocab, max_position_embeddings=config.max_length)
    if tokenizer is not None:  # pooling reads the first end token
        text.update(eos_token_id=tokenizer.end_id, pad_token_id=tokenizer.pad_id, bos_token_id=tokenizer.start_id)
    vision = dict(hidden_size=config.vision_hidden, num_hidden_layers=config.vision_layers,
                  num_attention_heads=config.vision_heads, intermediate_size=config.vision_intermediate,
                  patch_size=config.patch_size, image_size=config.image_size)
    hf = CLIPConfig(text_config=text, vision_config=vision, projection_dim=config.projection_dim,
                    logit_scale_init_value=config.logit_scale_init)
    return CLIPModel(hf)


def clip_pixels(images: torch.Tensor, size: int) -> torch.Tensor:
    """[B,H,W] grey in [0,1] -> [B,3,size,size] CLIP input: bicubic shortest side to `size`, centre crop, mean/std."""
    x = images.unsqueeze(1).float()
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    x = F.interpolate(x, size=(max(size, round(h * scale)), max(size, round(w * scale))), mode="bicubic",
                      align_corners=False, antialias=True).clamp(0, 1)
    top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
    x = x[..., top: top + size, left: left + size].expand(-1, 3, -1, -1)
    mean = torch.tensor(CLIP_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


class PromptEncoder(nn.Module):
    """Maps images and reports into the shared space: [B, projection_dim], unit norm."""

    def __init__(self, clip: CLIPModel, tokenizer: RoleTokenizer):
        super().__init__()
        self.clip = clip
        self.tokenizer = tokenizer

    @property
    def device(self) -> torch.device:
        return self.clip.logit_scale.device

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        pixels = clip_pixels(images.to(self.device), self.clip.config.vision_config.image_size)
        pooled = self.clip.vision_model(pixel_values=pixels).pooler_output
        return F.normalize(self.clip.visual_projection(pooled), dim=-1)

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        ids, mask = self.tokenizer.encode(texts)
        pooled = self.clip.text_model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).pooler_output
        return F.normalize(self.clip.text_projection(pooled), dim=-1)

    def null_embedding(self, modality: str, image_size: int = 256, blank_level: float = 0.0) -> torch.Tensor:
        """The unconditional prompt of a modality (spec §3): CLIP("") for reports, CLIP(a uniform image of
        `blank_level` in [0, 1]) for X-rays: 0 (black) as XGeM's CLIP wrapper sees its zeros; CoDi's wrapper maps
        its zeros in [-1, 1] to 0.5 (mid-grey)."""
        if modality == "report":
            return self.encode_texts([""])[0]
        return self.encode_images(torch.full((1, image_size, image_size), float(blank_level)))[0]

    def contrastive_loss(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        return info_nce(image_emb, text_emb, self.clip.logit_scale.exp())

    def clamp_temperature(self, maximum: float) -> None:
        with torch.no_grad():
            self.clip.logit_scale.clamp_(0, maximum)


def global_batch(x: torch.Tensor) -> torch.Tensor:
    """The rows of every process in rank order, differentiable, so that a contrastive loss under torchrun sees the
    global batch as its negatives, as one process would. Every rank then computes the same loss; the gather's
    backward sums each rank's gradient back to the rows' owner and DDP's averaging restores the one-process gradient.
    One process: `x` itself."""
    import torch.distributed as dist
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return x
    from torch.distributed._functional_collectives import all_gather_single_autograd
    sizes = [torch.zeros((), dtype=torch.long, device=x.device) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, torch.tensor(len(x), device=x.device))
    if len({int(n) for n in sizes}) > 1:
        raise RuntimeError(f"contrastive batch sizes differ between processes: {[int(n) for n in sizes]}")
    return all_gather_single_autograd(x, gather_dim=0, group=dist.group.WORLD)


def info_nce(a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """Symmetric InfoNCE on unit vectors (paper Eq. 1): matching rows are positives, the rest of the (global)
    batch negatives."""
    a, b = global_batch(a), global_batch(b)
    logits = scale * a @ b.T
    labels = torch.arange(len(a), device=a.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))
