"""Feature backbones of the image metrics: pytorch-fid's Inception-v3 and torchxrayvision's DenseNet-121.

A backbone turns a batch of X-rays (float32 [0, 1], (H, W), any size) into features. Every choice that changes the
numbers is a named setting and part of `signature`:

- **inception** (2048-d pool3, as pytorch-fid computes it): optional 8-bit quantisation of the input (pytorch-fid
  reads PNG files, so `uint8` reproduces a file-based run), grey copied to 3 channels, bilinear resize to 299x299
  (`align_corners=False`, no antialias: pytorch-fid's `resize_input`), then 2x-1 (its `normalize_input`).
- **xrv** / **xrv-mimic** (1024-d): the same 8-bit quantisation as Inception by default (so 8-bit PNG outputs of a
  model and 16-bit real images meet on equal terms; `none` keeps the float image), centre crop to a square
  (torchxrayvision's `XRayCenterCrop`), one channel, resize to 224x224, values scaled from [0, 1] to [-1024, 1024]
  (`xrv.datasets.normalize`), then the feature layer: `features2` (ReLU, global average pool: torchxrayvision's own
  `features2`) or `features` (global average pool before the ReLU, as in some public XRV-FID scripts).
  Resize `bilinear` (default) is torchxrayvision's documented recipe: it equals `xrv.datasets.XRayResizer` (skimage,
  order 1) and the internal resize of torchxrayvision <= 1.3.1 (the XGeM environment pinned 1.2.3) to ~1e-3 on the
  [-1024, 1024] scale at 256 -> 224. `bilinear-aa` (torch bilinear with antialias, the internal `fix_resolution` of
  torchxrayvision >= 1.3.2) differs from both by tens of units on textured images: a named option only.

Resizes run on the device, batched, under `torch.inference_mode`; models and inputs use channels_last on CPU and GPU.
Weights come only from the weights manager: a missing file raises WeightsMissing naming the fixing command.
"""
from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from xgem_bench import weights
from xgem_bench.data.study import PAPER_PATHOLOGIES
from xgem_bench.distributed import resolve_device
from xgem_bench.settings import Configurable

logger = logging.getLogger(__name__)

XRV_VARIANTS = ("all", "mimic_ch", "mimic_nb", "demo")  # demo: metrics/demo_backbone.py
#: CheXpert observation (paper label) -> torchxrayvision output name (looked up in `model.pathologies`)
XRV_NAME = {label: ("Effusion" if label == "Pleural Effusion" else label) for label in PAPER_PATHOLOGIES}
XRV_RESIZES = {"bilinear-aa": dict(mode="bilinear", antialias=True), "bilinear": dict(mode="bilinear"),
               "area": dict(mode="area")}
QUANTIZE = ("none", "uint8")


def _quantize(image: np.ndarray, mode: str) -> np.ndarray:
    if mode == "uint8":  # what saving to an 8-bit PNG and reading it back does
        return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.float32) / 255.0
    return np.asarray(image, dtype=np.float32)


class Backbone(Configurable):
    """Batched feature extractor; `forward` is the bare network on prepared input, `features` the whole pipeline."""

    kind_label = "backbone"
    dim: int

    def __init__(self, device: str | None = "cpu", channels_last: bool = True, **settings: Any):
        self.device = resolve_device(device)
        self.channels_last = channels_last
        self.settings = self.resolve_settings(settings)
        self._resolve_weights()
        self._model = None

    def _resolve_weights(self) -> None:
        """Settle settings that depend on what is installed (e.g. which Inception file), before the signature."""

    @property
    def weight(self) -> str:
        """Catalog name of the weight this backbone loads."""
        raise NotImplementedError

    @property
    def signature(self) -> str:
        return self.signature_of(self.name, self.settings)

    @property
    def model(self):
        if self._model is None:
            import torch
            model = self._load(weights.require(self.weight)).eval().to(self.device)
            if self.channels_last:
                model = model.to(memory_format=torch.channels_last)
            self._model = model
        return self._model

    # ---- pipeline -----------------------------------------------------------------------------------------------
    def prepare(self, images: Sequence[np.ndarray]):
        """CPU tensor (N, 1, H, W) of a batch; images of different sizes are brought to the model size one by one."""
        import torch
        arrays = [self._crop(_quantize(np.asarray(image), self.settings["quantize"])) for image in images]
        if not arrays:
            raise ValueError("empty batch of images")
        for array in arrays:
            if array.ndim != 2:
                raise ValueError(f"expected grey images of shape (H, W), got {array.shape}")
        tensors = [torch.from_numpy(np.ascontiguousarray(a))[None, None] for a in arrays]
        if len({t.shape for t in tensors}) > 1:
            tensors = [self._resize(t) for t in tensors]
        return torch.cat(tensors)

    def forward(self, batch):
        """The network on a prepared batch (resize and scaling included): float32 (N, dim) on the device."""
        import torch
        with torch.inference_mode():
            x = self._scale(self._resize(batch.to(self.device, non_blocking=True)))
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            return self._features(x)

    def features(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return self.forward(self.prepare(images)).float().cpu().numpy()

    # ---- per backbone -------------------------------------------------------------------------------------------
    def _crop(self, image: np.ndarray) -> np.ndarray:
        return image

    def _resize(self, x):
        raise NotImplementedError

    def _scale(self, x):
        raise NotImplementedError

    def _features(self, x):
        raise NotImplementedError

    def _load(self, path):
        raise NotImplementedError


# ---- Inception-v3 (pytorch-fid) ---------------------------------------------------------------------------------
INCEPTION_SOURCES = {"official": "fid-inception", "fid-helper": "fid-inception-fid-helper"}


def inception_weight(source: str = "auto") -> str:
    """Catalog name of the Inception weight to use: `auto` prefers the official pytorch-fid file."""
    if source == "auto":
        present = [name for name in INCEPTION_SOURCES.values() if weights.missing_reason(name) is None]
        return present[0] if present else INCEPTION_SOURCES["official"]
    if source not in INCEPTION_SOURCES:
        raise ValueError(f"unknown Inception weight source {source!r}; use auto, {', '.join(INCEPTION_SOURCES)}")
    return INCEPTION_SOURCES[source]


def fid_inception_graph():
    """pytorch-fid's FID Inception (torchvision Inception-v3 with the TF-graph blocks), without loading weights."""
    from pytorch_fid import inception as pf

    net = pf._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    blocks = {"Mixed_5b": pf.FIDInceptionA(192, pool_features=32), "Mixed_5c": pf.FIDInceptionA(256, pool_features=64),
              "Mixed_5d": pf.FIDInceptionA(288, pool_features=64), "Mixed_6b": pf.FIDInceptionC(768, channels_7x7=128),
              "Mixed_6c": pf.FIDInceptionC(768, channels_7x7=160), "Mixed_6d": pf.FIDInceptionC(768, channels_7x7=160),
              "Mixed_6e": pf.FIDInceptionC(768, channels_7x7=192), "Mixed_7b": pf.FIDInceptionE_1(1280),
              "Mixed_7c": pf.FIDInceptionE_2(2048)}
    for name, block in blocks.items():
        setattr(net, name, block)
    return net


def inception_pool3(net):
    """The layers pytorch-fid's InceptionV3 runs for block index 3: input in [-1, 1] -> (N, 2048)."""
    from torch import nn

    return nn.Sequential(
        net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, nn.MaxPool2d(kernel_size=3, stride=2),
        net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, nn.MaxPool2d(kernel_size=3, stride=2),
        net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a, net.Mixed_6b, net.Mixed_6c, net.Mixed_6d,
        net.Mixed_6e, net.Mixed_7a, net.Mixed_7b, net.Mixed_7c, nn.AdaptiveAvgPool2d(1), nn.Flatten())


def load_inception_pool3(path):
    """Load a pytorch-fid state dict (the 1008-way classifier is ignored: pool3 does not use it)."""
    import torch

    net = fid_inception_graph()
    state = {k: v for k, v in torch.load(path, map_location="cpu", weights_only=True).items()
             if not k.startswith("fc.")}
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing or unexpected:
        raise ValueError(f"{path} is not a pytorch-fid Inception state dict "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return inception_pool3(net)


class InceptionBackbone(Backbone):
    name = "inception"
    dim = 2048
    size = 299

    @classmethod
    def default_settings(cls):
        return {"quantize": "uint8", "resize": "bilinear-299", "weights": "auto"}

    @classmethod
    def allowed_settings(cls):
        # resize: the Inception backbone resizes as pytorch-fid does
        return {"quantize": QUANTIZE, "resize": ("bilinear-299",), "weights": ("auto", *INCEPTION_SOURCES)}

    def _resolve_weights(self):
        # resolve `auto` now, so the signature says which file produced the numbers
        self.settings["weights"] = next(k for k, v in INCEPTION_SOURCES.items()
                                        if v == inception_weight(self.settings["weights"]))

    @property
    def weight(self) -> str:
        return INCEPTION_SOURCES[self.settings["weights"]]

    def _load(self, path):
        return load_inception_pool3(path)

    def _resize(self, x):
        import torch.nn.functional as F
        if x.shape[-2:] == (self.size, self.size):
            return x
        return F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)

    def _scale(self, x):
        return (2 * x - 1).expand(-1, 3, -1, -1)

    def _features(self, x):
        return self.model(x)


# ---- torchxrayvision DenseNet-121 -------------------------------------------------------------------------------
def center_crop(image: np.ndarray) -> np.ndarray:
    """torchxrayvision's XRayCenterCrop: the centred square of side min(H, W)."""
    h, w = image.shape[-2:]
    side = min(h, w)
    top, left = h // 2 - side // 2, w // 2 - side // 2
    return image[..., top:top + side, left:left + side]


class XRVBackbone(Backbone):
    name = "xrv"
    dim = 1024
    size = 224

    def __init__(self, device: str | None = "cpu", channels_last: bool = True, **settings: Any):
        super().__init__(device, channels_last, **settings)
        self.name = "xrv" if self.settings["variant"] == "all" else "xrv-mimic"

    @classmethod
    def default_settings(cls):
        return {"variant": "all", "layer": "features2", "resize": "bilinear", "crop": "center",
                "range": "[-1024,1024]", "quantize": "uint8"}

    @classmethod
    def allowed_settings(cls):
        return {"variant": XRV_VARIANTS, "layer": ("features2", "features"), "resize": tuple(XRV_RESIZES),
                "crop": ("center",), "range": ("[-1024,1024]",), "quantize": QUANTIZE}

    @property
    def weight(self) -> str:
        return f"xrv-densenet121-res224-{self.settings['variant']}"

    def _load(self, path):
        import torchxrayvision as xrv
        # torchxrayvision's own loader, reading the verified file from the folder we give it (never downloading:
        # `weights.require` has checked the file is there)
        return xrv.models.DenseNet(weights=f"densenet121-res224-{self.settings['variant']}", cache_dir=str(path.parent))

    @property
    def pathologies(self) -> list[str]:
        return list(self.model.pathologies)

    def _crop(self, image):
        return center_crop(image)

    def _resize(self, x):
        import torch.nn.functional as F
        if x.shape[-2:] == (self.size, self.size):
            return x
        return F.interpolate(x, size=(self.size, self.size), **XRV_RESIZES[self.settings["resize"]])

    def _scale(self, x):
        return x * 2048.0 - 1024.0

    def _features(self, x):
        import torch.nn.functional as F
        maps = self.model.features(x)
        if self.settings["layer"] == "features2":
            maps = F.relu(maps)
        return F.adaptive_avg_pool2d(maps, 1).flatten(1)

    def classify(self, images: Sequence[np.ndarray], op_norm: bool = True) -> np.ndarray:
        """XRV outputs as torchxrayvision's forward gives them: sigmoid, then (`op_norm`) the piecewise-linear map
        with the model's thresholds that makes 0.5 each label's operating point. Needs layer=features2 (the
        classifier's input)."""
        return self.classify_features(self.features(images), op_norm)

    def classify_features(self, features: np.ndarray, op_norm: bool = True) -> np.ndarray:
        """`classify` from `features` (N, 1024) of this backbone: the classifier head alone, so a feature pass
        shared with other metrics (`xgem_bench.features`) serves classification too."""
        import torch
        import torchxrayvision as xrv
        if self.settings["layer"] != "features2":
            raise ValueError("XRV classification needs layer=features2")
        with torch.inference_mode():
            logits = self.model.classifier(torch.from_numpy(np.ascontiguousarray(features)).to(self.device))
            probs = torch.sigmoid(logits)
            if op_norm and self.model.op_threshs is not None:
                probs = xrv.models.op_norm(probs, self.model.op_threshs.to(probs.device))
        return probs.float().cpu().numpy()
