"""Weights of the vision-transformer feature backbones (metrics/vit_backbones.py): Hugging Face model folders.

The hub publishes no checksum we can pin; the checksum of what was fetched or imported is recorded and written into
results. Only the files the loaders read are fetched (config, image processor, safetensors weights). A user who
already has a snapshot imports it offline: `xgem-bench weights import NAME ~/.cache/huggingface/hub/models--*/snapshots/*/`.
"""
from __future__ import annotations

from xgem_bench.weights import WeightSpec

_FILES = ("config.json", "preprocessor_config.json", "model.safetensors")

WEIGHTS = [
    WeightSpec(
        name="rad-dino",
        description="RAD-DINO: DINOv2 ViT-B/14 trained on chest X-rays (Microsoft), 768-d CLS features, 518x518 input",
        used_by="kid-raddino, prdc-raddino, memorisation-image (space=raddino)",
        source="microsoft/rad-dino",
        licence="MSRLA (Microsoft Research License Agreement): research use; see the model card",
        filename="rad-dino",
        kind="folder",
        required_files=_FILES,
        allow_patterns=_FILES,
    ),
    WeightSpec(
        name="dinov2-vitb14",
        description="DINOv2 ViT-B/14 (Meta; the torch hub dinov2_vitb14 weights in HF format), 768-d CLS features",
        used_by="kid-dinov2, prdc-dinov2, fd-infinity-dinov2, memorisation-image (space=dinov2)",
        source="facebook/dinov2-base",
        licence="Apache-2.0",
        filename="dinov2-base",
        kind="folder",
        required_files=_FILES,
        allow_patterns=_FILES,
    ),
    WeightSpec(
        name="clip-vit-large-patch14-336",
        description="OpenAI CLIP ViT-L/14 at 336 px (vision tower + projection used), 768-d image embeddings",
        used_by="cmmd-clip, memorisation-image (space=clip)",
        source="openai/clip-vit-large-patch14-336",
        licence="MIT (OpenAI CLIP); see the model card",
        filename="clip-vit-large-patch14-336",
        kind="folder",
        required_files=("config.json", "preprocessor_config.json"),
        allow_patterns=("config.json", "preprocessor_config.json", "model.safetensors"),
    ),
]
