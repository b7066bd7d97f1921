"""`xgem-bench train ... --init codi`: every stage starts from CoDi's released weights, as the public XGeM code does
(the paper fine-tunes CoDi's UNets, Optimus and prompt encoders on MIMIC-CXR).

What each stage takes: clip <- CoDi's CLIP; image-vae <- its AutoKL; text-vae <- its Optimus; ldm F and ldm L <- its
one vision UNet; ldm T <- its text UNet; align F, L, T <- the environment encoders and connectors of those UNets.
CoDi's three files are merged into XGeM's official layout by the `codi` adapter's `official_layout` and mapped onto our
modules by convert.py, the path inference with `-m codi` takes, so a layout mismatch fails the same loud way.

`--codi-checkpoint DIR` reads the three files from a folder under their released names (a download of
ZinengTang/CoDi); without it they come from the weights manager (`xgem-bench weights fetch codi-encoders
codi-text-diffuser codi-vision-diffuser`).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from torch import nn

from xgem_bench.reference_model import convert

INITS = ("random", "codi")


@dataclass(frozen=True)
class Init:
    """Where a stage's trainable weights start: `random` (the builders' initialisation; paper's image-vae installs
    the SD-1 VAE) or `codi` (CoDi's released weights, from `codi_checkpoint` or the weights manager)."""

    name: str = "random"
    codi_checkpoint: Path | None = None

    def __post_init__(self):
        if self.name not in INITS:
            raise ValueError(f"--init {self.name!r}: use one of {', '.join(INITS)}")
        if self.codi_checkpoint is not None and self.name != "codi":
            raise ValueError("--codi-checkpoint is read only with --init codi")

    @property
    def from_codi(self) -> bool:
        return self.name == "codi"

    def load(self, module: nn.Module, stage: str, modality: str | None = None) -> nn.Module:
        """`module` with CoDi's weights for this stage (strictly), or unchanged for `random`."""
        if not self.from_codi:
            return module
        state = codi_state(self.codi_checkpoint)
        what = f"{stage}{' ' + modality if modality else ''} (--init codi)"
        if stage == "clip":
            weights = convert.convert_clip(state)
        elif stage == "image-vae":
            weights = convert.convert_autokl(state, module)
        elif stage == "text-vae":
            weights = convert.convert_optimus(state)
        elif stage == "ldm":
            weights = convert.convert_unet(convert.unet_part(state, modality), modality, module)
        elif stage == "align":
            weights = convert.convert_branch(convert.unet_part(state, modality), modality)
        else:
            raise ValueError(f"no CoDi weights for stage {stage!r}")
        try:
            return convert.load_strict(module, weights, what)
        except ValueError as error:
            raise ValueError(f"{error}; --init codi needs CoDi's architecture and tokenizers (`--config paper`)") \
                from None


def codi_paths(folder: Path | None) -> dict[str, Path]:
    """CoDi file role -> path: from `folder` under the released file names, else from the weights manager."""
    from xgem_bench import weights
    from xgem_bench.adapters.codi import CODI_WEIGHTS

    if folder is None:
        reason = weights.missing_weights_reason(CODI_WEIGHTS.values())
        if reason:
            raise FileNotFoundError(f"--init codi needs CoDi's released weights: {reason} "
                                    "(or pass --codi-checkpoint DIR holding the three files)")
        return {role: weights.require(name) for role, name in CODI_WEIGHTS.items()}
    paths = {role: Path(folder) / weights.get(name).filename for role, name in CODI_WEIGHTS.items()}
    missing = [p.name for p in paths.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"--codi-checkpoint {folder} lacks {', '.join(missing)}: it must hold CoDi's three "
                                "released files under their names (ZinengTang/CoDi), or drop --codi-checkpoint to "
                                "use the weights manager's copies")
    return paths


def codi_state(folder: Path | None) -> dict:
    """CoDi's three files merged into XGeM's official key layout (memory-mapped where the files allow: the vision
    UNet file holds several GB that a stage mostly does not need); read once per process for all stages."""
    paths = codi_paths(folder)
    return _merged(tuple((role, str(p), p.stat().st_mtime_ns, p.stat().st_size) for role, p in paths.items()))


@lru_cache(maxsize=1)
def _merged(files: tuple) -> dict:
    from xgem_bench.adapters.codi import official_layout

    parts = {role: _load(Path(path)) for role, path, _, _ in files}
    return official_layout(parts["encoders"], parts["vision"], parts["text"])


def _load(path: Path) -> dict:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # the legacy (non-zip) serialisation cannot be memory-mapped
        state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state)
