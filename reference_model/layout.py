"""Where a trained reference XGeM lives on disk, and which stages are trained: file checks only, no torch import,
so that `xgem-bench models` and availability checks stay fast."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from xgem_bench.reference_model.config import MODALITIES


def default_checkpoint(config_name: str) -> Path:
    """Where `xgem-bench train` writes and the adapters look: <xgem-bench cache>/reference/<config>."""
    from xgem_bench.weights import cache_root
    return cache_root() / "reference" / config_name


def component_dir(root: Path, stage: str, modality: str | None = None, variant: str = "xgem") -> Path:
    root = Path(root)
    if stage in ("clip", "image-vae", "text-vae"):
        return root / stage
    if stage in ("ldm", "align"):
        return root / stage / variant / modality
    raise ValueError(f"unknown stage {stage!r}")


def is_trained(folder: Path) -> bool:
    return (folder / "stage.json").is_file()


def missing_stages(root: Path, variant: str, modalities: Sequence[str] = MODALITIES,
                   joint: bool = True) -> list[tuple[str, str | None]]:
    """(stage, modality) pairs whose trained weights are absent, in training order. Cheap: file checks only."""
    root = Path(root)
    if not (root / "xgem_config.json").is_file():
        return [("clip", None)]
    needed: list[tuple[str, str | None]] = [("clip", None)]
    if any(m != "report" for m in modalities):
        needed.append(("image-vae", None))
    if "report" in modalities:
        needed.append(("text-vae", None))
    needed += [("ldm", m) for m in modalities]
    if joint:
        needed += [("align", m) for m in modalities]
    return [(s, m) for s, m in needed if not is_trained(component_dir(root, s, m, variant))]
