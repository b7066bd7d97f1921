"""Vision-transformer feature backbones from Hugging Face folders: RadDino, DINOv2 ViT-B/14 and CLIP ViT-L/14@336.

- **raddino** (microsoft/rad-dino, a DINOv2 ViT-B/14 trained on chest X-rays): the CLS token after the final layer
  norm (`Dinov2Model` `pooler_output`), with the image processor shipped in the model folder (resize the shorter side
  to 518, bicubic, centre crop 518, the model's mean/std), as CheXGenBench.
- **dinov2** (facebook/dinov2-base = torch hub `dinov2_vitb14`): the same CLS token, on images resized to 224x224
  (bicubic, no crop) and ImageNet-normalised, as dgm-eval's DINOv2 encoder (its transform, not the HF default of
  resize 256 + crop 224).
- **clip** (openai/clip-vit-large-patch14-336): the projected image embedding (`CLIPVisionModelWithProjection`
  `image_embeds`) divided by its L2 norm, with the CLIP image processor of the folder, as google-research/cmmd.

The X-ray is quantised to 8 bits and copied to 3 channels (the processors are made for 8-bit RGB files), then goes
through the processor (PIL resampling, so the numbers match the upstream pipelines on the same files). Loading refuses
a checkpoint that leaves any weight of the model uninitialised: never silently random weights.
"""
from __future__ import annotations

import json
from functools import cached_property
from typing import Any, Sequence

import numpy as np

from xgem_bench import weights
from xgem_bench.metrics.backbones import Backbone

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


class HFVisionBackbone(Backbone):
    weight_name: str
    #: keyword overrides of the folder's image processor (None: the processor as shipped)
    processor_overrides: dict[str, Any] = {}
    preprocess: str
    output: str

    def __init__(self, device: str | None = "cpu", channels_last: bool = True, **settings: Any):
        super().__init__(device, channels_last=False, **settings)  # channels_last only speeds up convolutions

    @classmethod
    def default_settings(cls):
        return {"quantize": "uint8", "preprocess": cls.preprocess, "output": cls.output}

    @classmethod
    def allowed_settings(cls):
        return {key: (value,) for key, value in cls.default_settings().items()}  # the upstream pipeline only

    @property
    def weight(self) -> str:
        return self.weight_name

    @cached_property
    def dim(self) -> int:
        config = json.loads((weights.require(self.weight) / "config.json").read_text())
        return int(self._dim_of(config))

    @staticmethod
    def _dim_of(config: dict) -> int:
        return config["hidden_size"]

    @cached_property
    def processor(self):
        from transformers import AutoImageProcessor
        return AutoImageProcessor.from_pretrained(str(weights.require(self.weight)), **self.processor_overrides)

    @staticmethod
    def _model_class():
        from transformers import Dinov2Model
        return Dinov2Model

    def _load(self, path):
        # a full CLIPModel checkpoint also holds the text tower: those keys are unexpected (ignored), not missing
        model, info = self._model_class().from_pretrained(str(path), output_loading_info=True)
        if info["missing_keys"]:
            raise ValueError(f"{path} does not hold every weight of {self._model_class().__name__} (missing "
                             f"{sorted(info['missing_keys'])[:3]}...); refusing randomly initialised layers. "
                             f"Re-fetch it: xgem-bench weights fetch {self.weight}")
        return model

    def features(self, images: Sequence[np.ndarray]) -> np.ndarray:
        import torch
        if not len(images):
            raise ValueError("empty batch of images")
        rgb = []
        for image in images:
            image = np.asarray(image)
            if image.ndim != 2:
                raise ValueError(f"expected grey images of shape (H, W), got {image.shape}")
            grey = np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
            rgb.append(np.repeat(grey[:, :, None], 3, axis=2))
        pixels = self.processor(images=rgb, return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            return self._pool(self.model(pixel_values=pixels.to(self.device))).float().cpu().numpy()

    def _pool(self, output):
        return output.pooler_output


class RadDinoBackbone(HFVisionBackbone):
    name = "raddino"
    weight_name = "rad-dino"
    preprocess = "processor-of-folder"
    output = "cls-layernorm"


class DinoV2Backbone(HFVisionBackbone):
    name = "dinov2"
    weight_name = "dinov2-vitb14"
    # dgm-eval: transforms.Resize((224, 224), BICUBIC), ToTensor, Normalize(ImageNet)
    processor_overrides = {"size": {"height": 224, "width": 224}, "do_center_crop": False, "resample": 3,
                           "image_mean": IMAGENET_MEAN, "image_std": IMAGENET_STD}
    preprocess = "resize-224-bicubic-imagenet"
    output = "cls-layernorm"


class CLIPBackbone(HFVisionBackbone):
    name = "clip"
    weight_name = "clip-vit-large-patch14-336"
    preprocess = "processor-of-folder"
    output = "image-embeds-l2"

    @staticmethod
    def _dim_of(config: dict) -> int:
        return config["projection_dim"]

    @staticmethod
    def _model_class():
        from transformers import CLIPVisionModelWithProjection
        return CLIPVisionModelWithProjection

    def _pool(self, output):
        embeds = output.image_embeds
        return embeds / embeds.norm(dim=-1, keepdim=True)


VIT_BACKBONES = {"raddino": RadDinoBackbone, "dinov2": DinoV2Backbone, "clip": CLIPBackbone}
