"""How good are the tiny XGeM's frontals on the demo test split, and which part limits them? By default it scores
the bundled demo checkpoint (reference_model/checkpoints/tiny128-demo, what `make demo` runs).

    .venv/bin/python benchmarks/xgem_tiny_quality.py [--checkpoint DIR] [--variant xgem] [--limit N]
                                                      [--steps 50] [--guidance 7.5] [--no-generation]
                                                      [--half bf16]

Rows (each scored on the demo's test frontals; FID-Inception against the training frontals, as `xgem-bench run`):
- `real test frontals`: the ceiling (the same phantoms' distribution);
- `shuffled real`: each study gets another test study's frontal (right distribution, wrong study): the baseline that
  pixel-MAE and macro-AUC must beat;
- `VAE reconstruction`: decode(encode(x)) at the model's resolution, resized to 256 px as generation is: no sample
  of the LDM can be sharper than this, so its FID bounds the model's from below;
- `T->F generated`: XGeM generation from the report alone (seed = study position); with `--half bf16`, the same
  under CPU autocast, plus FID and pixel-MAE of those outputs against the fp32 ones (issue 12 §3).
Columns: FID-Inception (pytorch-fid features, fid-helper weights), pixel-MAE against the study's own frontal, and the
demo backbone's macro-AUC against the source labels, with `xrv-classification`'s label policy (healthy; uncertain and
blank excluded) and against what the phantoms draw (`AUC drawn`: 1 where a label is 1, else 0, the demo backbone's
training targets). The issue's goal for `T->F generated`: FID < 150 and macro-AUC >= 0.70.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from xgem_bench.metrics.backbone_factory import make_backbone
from xgem_bench.metrics.demo_backbone import demo_backbone
from xgem_bench.metrics.fid import GaussianSums
from xgem_bench.metrics.frechet import frechet_distance
from xgem_bench.metrics.pixel_mae import resize_to
from xgem_bench.metrics.xrv_classification import classification_scores, ground_truth, xrv_output_indices
from xgem_bench.reference_model import model as xm
from xgem_bench.reference_model.demo_checkpoint import BUNDLED
from xgem_bench.synthetic.demo import load_demo
from xgem_bench.tasks import Modality


def _features(net, images: list[np.ndarray], batch: int = 16) -> GaussianSums:
    sums = GaussianSums(net.dim)
    for start in range(0, len(images), batch):
        sums.update(net.features(images[start:start + batch]))
    return sums


def _load(checkpoint: Path, variant: str, vae_only: bool) -> xm.XGeM:
    if not vae_only:
        return xm.XGeM.load(checkpoint, variant, modalities=("frontal",), joint=False)
    # the VAE row needs the image VAE (and CLIP, which places the model) only: measurable before any LDM is trained
    from diffusers import AutoencoderKL
    from transformers import CLIPModel

    from xgem_bench.reference_model.prompt_encoder import PromptEncoder
    from xgem_bench.reference_model.tokenizer import load_tokenizers
    config = xm.load_config(checkpoint)
    tokenizers = load_tokenizers(config, checkpoint)
    prompt = PromptEncoder(CLIPModel.from_pretrained(checkpoint / "clip"), tokenizers.clip)
    return xm.XGeM(config, tokenizers, prompt, AutoencoderKL.from_pretrained(checkpoint / "image-vae"), None,
                   {}).eval()


def _reconstruct(model: xm.XGeM, images: list[np.ndarray], batch: int = 16) -> list[np.ndarray]:
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            x = torch.as_tensor(np.stack(images[start:start + batch]))
            z = model.image_posterior(x).mode() * model.image_scale
            out.extend(model.decode_images(z))
    return out


def _generate(model: xm.XGeM, test, steps: int, guidance: float, dtype: str) -> list[np.ndarray]:
    half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(dtype)
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=half, enabled=half is not None):
        images = model.generate({"report": [s.report for s in test]}, ["frontal"], seeds=list(range(len(test))),
                                steps=steps, guidance=guidance, progress=True)["frontal"]
    print(f"generation ({dtype}): {len(test)} studies in {time.perf_counter() - start:.0f} s")
    return images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=BUNDLED)
    parser.add_argument("--variant", default="xgem")
    parser.add_argument("--limit", type=int, default=None, help="test studies (default: all)")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--no-generation", action="store_true", help="only the real, shuffled and VAE rows (needs "
                        "only the clip and image-vae stages)")
    parser.add_argument("--half", choices=("bf16", "fp16"), help="also generate under autocast at this precision "
                        "and compare with the fp32 outputs of the same seeds (FID between them, pixel-MAE per study)")
    args = parser.parse_args()

    dataset = load_demo()
    train = [dataset.load(int(i), (Modality.FRONTAL,)) for i in dataset.indices("train")]
    test = [dataset.load(int(i), (Modality.FRONTAL, Modality.REPORT)) for i in dataset.indices("test")]
    test = [s for s in test if s.frontal is not None and s.report][:args.limit]
    real = [s.frontal for s in test]
    shuffled = [real[(k + len(real) // 2) % len(real)] for k in range(len(real))]

    model = _load(args.checkpoint, args.variant, vae_only=args.no_generation)
    rows = {"real test frontals": real, "shuffled real": shuffled,
            "VAE reconstruction": _reconstruct(model, real)}
    if not args.no_generation:
        rows["T->F generated"] = _generate(model, test, args.steps, args.guidance, "fp32")
        if args.half:  # the same studies and seeds under autocast (what `-o xgem.dtype=bf16|fp16` does)
            rows[f"T->F generated {args.half}"] = _generate(model, test, args.steps, args.guidance, args.half)

    inception = make_backbone("inception", device="cpu")
    mu_ref, sigma_ref = _features(inception, [s.frontal for s in train if s.frontal is not None]).mean_cov_of()
    classifier = demo_backbone()
    index = xrv_output_indices(classifier.pathologies)
    truth = np.array([ground_truth(s.labels) for s in test])
    # what the phantoms draw (and the demo backbone was trained on): 1 where a label is 1, 0 otherwise
    drawn = np.array([ground_truth(s.labels, "negative", "negative", "explicit") for s in test])

    print(f"checkpoint {args.checkpoint} ({args.variant}), demo test split: {len(test)} frontals, "
          f"FID reference {len(train)} training frontals, {args.steps} DDIM steps, guidance {args.guidance}")
    print(f"{'':22s} {'FID-Inception':>14s} {'pixel-MAE':>10s} {'macro-AUC':>10s} {'AUC drawn':>10s}")
    for name, images in rows.items():
        fid = frechet_distance(*_features(inception, images).mean_cov_of(), mu_ref, sigma_ref)
        pixel = float(np.mean([np.abs(resize_to(g, r.shape) - r).mean() for g, r in zip(images, real)]))
        probs = classifier.classify(images)[:, index]
        auc, auc_drawn = (classification_scores(y, probs)["auc_macro"] for y in (truth, drawn))
        print(f"{name:22s} {fid:14.1f} {pixel:10.4f} {auc:10.3f} {auc_drawn:10.3f}")
    if args.half and not args.no_generation:
        full, half = rows["T->F generated"], rows[f"T->F generated {args.half}"]
        fid = frechet_distance(*_features(inception, half).mean_cov_of(), *_features(inception, full).mean_cov_of())
        pixel = float(np.mean([np.abs(h - f).mean() for h, f in zip(half, full)]))
        print(f"{args.half} against fp32 outputs of the same seeds: FID-Inception {fid:.2f}, pixel-MAE {pixel:.4f}")


if __name__ == "__main__":
    main()
