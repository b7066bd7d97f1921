"""`xgem-bench fid A B --backbone inception|xrv|xrv-mimic`: FID between two image folders or manifests."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, List, Optional

import typer

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dcm", ".bmp"}


def register(app: typer.Typer) -> None:
    app.command("fid")(fid)


def image_paths(folder: Path) -> list[Path]:
    """Every image file under `folder` (recursive, sorted)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def images_of(source: Path, view: str) -> Iterator:
    """Grey float32 [0, 1] images of a folder, or of one view of a manifest (.csv / .parquet)."""
    from xgem_bench.data import load_dataset
    from xgem_bench.data.images import read_image
    from xgem_bench.tasks import parse_modality

    if source.is_dir():
        paths = image_paths(source)
        if not paths:
            raise ValueError(f"{source} contains no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return (read_image(p).pixels for p in paths)
    if source.suffix.lower() in {".csv", ".parquet"}:
        dataset, modality = load_dataset(f"manifest:{source}"), parse_modality(view)
        indices = [int(i) for i in (dataset.available(modality)).nonzero()[0]]
        if not indices:
            raise ValueError(f"manifest {source} has no {modality.field} images")
        return (dataset.load(i).get(modality) for i in indices)
    raise ValueError(f"{source} is neither a folder nor a manifest (.csv / .parquet)")


def fid(
    a: Path = typer.Argument(..., help="First image set: a folder (searched recursively) or a manifest."),
    b: Path = typer.Argument(..., help="Second image set: a folder or a manifest."),
    backbone: str = typer.Option("inception", "--backbone", "-b", help="inception | xrv | xrv-mimic"),
    view: str = typer.Option("F", "--view", help="For manifests: which view to read (F or L)."),
    option: Optional[List[str]] = typer.Option(None, "--option", "-o",
                                               help="Backbone setting KEY=VALUE, e.g. layer=features, "
                                                    "variant=mimic_nb, quantize=none (repeatable)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present), cpu, cuda, cuda:1 ..."),
    batch_size: int = typer.Option(32, "--batch-size", min=1),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """FID between two image sets with the chosen backbone; prints the value, both set sizes and the signature."""
    from xgem_bench.commands._common import fail, user_errors
    from xgem_bench.metrics.fid import fid_between
    from xgem_bench.weights import WeightsMissing

    settings = {}
    for pair in option or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"option {pair!r} must look like KEY=VALUE")
        settings[key] = value
    for path in (a, b):
        if not path.exists():
            fail(f"{path} does not exist")
    with user_errors(ValueError, WeightsMissing, OSError, KeyError):
        result = fid_between(images_of(a, view), images_of(b, view), backbone=backbone, device=device,
                             batch_size=batch_size, **settings)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        typer.echo(f"FID {result['fid']:.4f}  (n_a={result['n_a']}, n_b={result['n_b']})\n"
                   f"backbone {result['backbone']}\nweights {result['weights']} sha256 {result['weights_sha256']}")
