"""The DenseNet-121 classifier of the utility experiments (torchvision's architecture, one logit per class).

Grey X-rays are repeated to three channels and normalised with the ImageNet statistics in every arm, so the network
and its input are the same whether it starts from scratch (the paper's choice, the default) or from the ImageNet
weights (`init=imagenet`, read through the weights manager; `xgem-bench weights fetch
torchvision-densenet121-imagenet` gets them).
"""
from __future__ import annotations

import re

import torch
from torch import nn

from xgem_bench import weights
from xgem_bench.weights_catalog.utility import IMAGENET_DENSENET, IMAGENET_DENSENET_FILE

INITS = ("scratch", "imagenet")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
#: the ImageNet file keeps the layer names of torchvision < 0.3 (`norm.1`); torchvision renames them on load alike
_OLD_LAYER_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|"
                            r"running_var))$")


class XrayDenseNet(nn.Module):
    """DenseNet-121 on (N, H, W) images in [0, 1]; returns (N, classes) logits."""

    def __init__(self, n_classes: int):
        super().__init__()
        from torchvision.models import densenet121
        self.net = densenet121(weights=None, num_classes=n_classes)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.unsqueeze(1).expand(-1, 3, -1, -1)
        return self.net((x - self.mean) / self.std)


def imagenet_state_dict() -> dict[str, torch.Tensor]:
    """The ImageNet weights with torchvision's current key names (checked against the weights manager first)."""
    digest = weights.verify(IMAGENET_DENSENET)  # WeightsMissing names `xgem-bench weights fetch ...`
    prefix = IMAGENET_DENSENET_FILE.rsplit("-", 1)[1].split(".")[0]
    if not digest.startswith(prefix):
        raise weights.WeightsMismatch(
            f"{weights.get(IMAGENET_DENSENET).path} has sha256 {digest}, which does not start with {prefix} as "
            f"torch.hub's name for the official file says; remove it and run "
            f"`xgem-bench weights fetch {IMAGENET_DENSENET}`")
    state = torch.load(weights.get(IMAGENET_DENSENET).path, map_location="cpu", weights_only=True)
    return {(_OLD_LAYER_KEY.sub(r"\1\2", key)): value for key, value in state.items()}


def build_classifier(n_classes: int, init: str = "scratch") -> XrayDenseNet:
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    model = XrayDenseNet(n_classes)
    if init == "imagenet":
        state = {k: v for k, v in imagenet_state_dict().items() if not k.startswith("classifier.")}
        missing, unexpected = model.net.load_state_dict(state, strict=False)
        # the published file predates BatchNorm's num_batches_tracked (unused with momentum set); the head is new
        missing = [k for k in missing if not k.endswith("num_batches_tracked")]
        if unexpected or set(missing) != {"classifier.weight", "classifier.bias"}:
            raise ValueError(f"{IMAGENET_DENSENET} does not fit torchvision's DenseNet-121 (missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]})")
    return model
