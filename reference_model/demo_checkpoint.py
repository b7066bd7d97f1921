"""The demo checkpoint: the `tiny128` reference XGeM, both variants (xgem and the CoDi-XR ablation), trained on the
demo's training split and bundled in the repository (reference_model/checkpoints/tiny128-demo/), so that the demo
shows a reference model that works without half an hour of training.

`xgem-bench weights import xgem-tiny128-demo --from-package xgem-bench` installs it in the weights store (its folder
sha256 is the catalog's); the adapters use it with `-s xgem.checkpoint=demo` (and `codi-xr.checkpoint=demo`).
`scripts/build_demo_checkpoint.sh` reproduces it from scratch (reference_model/README.md, "The demo checkpoint").
"""
from __future__ import annotations

import shutil
from pathlib import Path

WEIGHT_NAME = "xgem-tiny128-demo"
#: the adapters' `checkpoint` value that selects it
SETTING = "demo"
BUNDLED = Path(__file__).resolve().parent / "checkpoints" / "tiny128-demo"
#: what the folder must hold to count as present (the rest is checked by its sha256)
REQUIRED_FILES = ("xgem_config.json", "tokenizer.json", "clip/config.json", "image-vae/config.json",
                  "text-vae/config.json")


def installed_path() -> Path:
    """Where the weights manager keeps the imported checkpoint (what `checkpoint=demo` and `encoder=demo` load)."""
    from xgem_bench import weights
    return weights.get(WEIGHT_NAME).path


def missing_reason() -> str | None:
    """None once imported, else why not and the import command."""
    from xgem_bench import weights
    return weights.missing_reason(WEIGHT_NAME)


def store_half(folder: Path) -> None:
    """Every float32 tensor of the checkpoint's safetensors files rewritten as float16, in place (metadata kept):
    half the size, so that both variants fit the repository's 30 MB. The loaders (diffusers, transformers,
    safetensors into a built module) cast them back to float32; the benchmark figures are of the stored weights."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    for path in sorted(Path(folder).rglob("*.safetensors")):
        with safe_open(str(path), "pt") as handle:
            metadata = handle.metadata()
        tensors = {k: v.half() if v.dtype == torch.float32 else v for k, v in load_file(str(path)).items()}
        staging = path.with_suffix(".tmp")
        save_file(tensors, str(staging), metadata=metadata)
        staging.replace(path)


def install(target: Path) -> None:
    """The weights manager's converter: a copy of the bundled folder (the manager then checks its sha256)."""
    if not BUNDLED.is_dir():
        raise FileNotFoundError(f"the bundled demo checkpoint {BUNDLED} is missing from this installation; rebuild "
                                "it with scripts/build_demo_checkpoint.sh (about 30 min on 2 CPU cores)")
    shutil.copytree(BUNDLED, target)
