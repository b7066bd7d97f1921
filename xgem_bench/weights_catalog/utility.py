"""The ImageNet DenseNet-121 of torchvision: the optional initialisation of the utility classifiers (`--init imagenet`).

It lives where torchvision itself caches it (torch hub checkpoints), so a user who already has it does not download
twice. torch.hub names the file `<name>-<first 8 hex of its sha256>`; the full digest is not published, so it is
recorded on first use and the loader checks the published prefix.
"""
from __future__ import annotations

from xgem_bench.weights import WeightSpec
from xgem_bench.weights_catalog.image_metrics import torch_hub_checkpoints

IMAGENET_DENSENET = "torchvision-densenet121-imagenet"
IMAGENET_DENSENET_FILE = "densenet121-a639ec97.pth"

WEIGHTS = [
    WeightSpec(
        name=IMAGENET_DENSENET,
        description="torchvision DenseNet-121 trained on ImageNet-1k (DenseNet121_Weights.IMAGENET1K_V1, state dict "
                    "in the pre-0.3 key layout torchvision remaps on load)",
        used_by="utility --init imagenet",
        source=f"https://download.pytorch.org/models/{IMAGENET_DENSENET_FILE}",
        licence="BSD-3-Clause (torchvision); trained on ImageNet (non-commercial research terms)",
        filename=IMAGENET_DENSENET_FILE,
        directory=torch_hub_checkpoints,
    ),
]
