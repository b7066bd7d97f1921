"""How far each XRV resize setting is from torchxrayvision's documented recipe (issue 11 §2), run by hand:

    .venv/bin/python benchmarks/xrv_resize_agreement.py [--images 8] [--size 256]

On textured grey images in [0, 1] (the test images of tests/image_metrics), compares the input our XRV backbone feeds
the network (centre crop, resize to 224, [-1024, 1024]) with torchxrayvision's `normalize(img, 1)`,
`XRayCenterCrop`, `XRayResizer(224)` (skimage) on the same arrays; prints RMS and max |difference| per `resize` setting
and the SD of the reference input. No weights needed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "image_metrics"))
from image_fixtures import grey_images  # noqa: E402  (the same test images)


def main() -> None:
    import torchxrayvision as xrv

    from xgem_bench.metrics.backbone_factory import make_backbone
    from xgem_bench.metrics.backbones import XRV_RESIZES
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    images = grey_images(args.images, args.size)
    crop, resize = xrv.datasets.XRayCenterCrop(), xrv.datasets.XRayResizer(224)
    reference = np.stack([resize(crop(xrv.datasets.normalize(i, 1.0)[None])) for i in images])
    print(f"{args.images} images {args.size}x{args.size} -> 224; reference SD {reference.std():.1f} "
          "on the [-1024, 1024] scale")
    for name in XRV_RESIZES:
        backbone = make_backbone("xrv", channels_last=False, resize=name, quantize="none")
        ours = backbone._scale(backbone._resize(backbone.prepare(images))).numpy()
        diff = ours - reference
        print(f"resize={name:12s} RMS {np.sqrt(np.mean(diff ** 2)):.4f}  max {np.abs(diff).max():.4f}")


if __name__ == "__main__":
    main()
