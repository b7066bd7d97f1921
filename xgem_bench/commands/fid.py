"""`xgem-bench fid A B --backbone inception|xrv|xrv-mimic`: FID between two image folders or manifests."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, List, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("fid")(fid)


def image_paths(folder: Path) -> list[Path]:
    """Every image file under `folder` (recursive, sorted)."""
    from xgem_bench.data.images import IMAGE_SUFFIXES
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_ids(value: str | None) -> list[str] | None:
    """--ids: a file with one study id per line (a `study_id` header line is skipped) or a comma-separated list."""
    if value is None:
        return None
    path = Path(value)
    lines = path.read_text(encoding="utf-8-sig").splitlines() if path.is_file() else value.split(",")
    ids = [i.strip() for i in lines if i.strip()]
    if ids and ids[0].lower() in {"study_id", "id"}:
        ids = ids[1:]
    if not ids:
        raise ValueError(f"--ids {value!r} names no study id")
    return list(dict.fromkeys(ids))


def images_of(source: Path, view: str, split: str = "test", ids: list[str] | None = None) -> Iterator:
    """Grey float32 [0, 1] images of a folder, or of one view of a dataset (manifest file or dataset spec such as
    `demo`). A dataset is restricted to `split` ('all': every study) and, like a folder (by file
    name stem), to `ids` when given; an id absent from the source is an error."""
    from xgem_bench.data import load_dataset
    from xgem_bench.data.images import IMAGE_SUFFIXES, read_image
    from xgem_bench.tasks import parse_modality

    if source.is_dir():
        paths = image_paths(source)
        if ids is not None:
            by_stem = {p.stem: p for p in paths}
            _check_known(ids, by_stem, source)
            paths = [by_stem[i] for i in ids]
        if not paths:
            raise ValueError(f"{source} contains no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return (read_image(p).pixels for p in paths)
    spec = f"manifest:{source}" if source.suffix.lower() in {".csv", ".parquet"} else str(source)
    try:
        dataset = load_dataset(spec)
    except ValueError as error:
        raise ValueError(f"{source} is neither a folder, a manifest (.csv / .parquet) nor a dataset: {error}") from None
    modality = parse_modality(view)
    indices = dataset.indices(split)
    if ids is not None:
        position = {dataset.study_ids[i]: int(i) for i in indices}
        _check_known(ids, position, f"split {split!r} of {source}")
        indices = [position[i] for i in ids]
    indices = [int(i) for i in indices if dataset.available(modality)[i]]
    if not indices:
        raise ValueError(f"split {split!r} of {source} has no {modality.field} images")
    return (dataset.load(i).get(modality) for i in indices)


def _check_known(ids: list[str], known, where) -> None:
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ValueError(f"{len(unknown)} of the --ids are not in {where}: {', '.join(unknown[:5])}"
                         f"{' ...' if len(unknown) > 5 else ''}")


def fid(
    a: Path = typer.Argument(..., help="First image set: a folder (searched recursively), a manifest or a dataset."),
    b: Path = typer.Argument(..., help="Second image set: a folder, a manifest or a dataset (e.g. demo)."),
    backbone: str = typer.Option("inception", "--backbone", "-b", help="inception | xrv | xrv-mimic"),
    view: str = typer.Option("F", "--view", help="For datasets: which view to read (F or L)."),
    split: str = typer.Option("test", "--split", help="For datasets: the split to read ('all' for every study)."),
    ids: Optional[str] = typer.Option(None, "--ids", help="Only these studies (both sets): a file with one id per "
                                                          "line, or id1,id2,...; folders match file name stems."),
    ci: bool = typer.Option(False, "--ci", help="Bootstrap interval: both sets redrawn independently."),
    resamples: int = typer.Option(1000, help="Bootstrap resamples for --ci."),
    level: float = typer.Option(0.95, help="Confidence level for --ci."),
    seed: int = typer.Option(0, help="Bootstrap seed for --ci."),
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
    from xgem_bench.stats import two_sample_fid_ci
    from xgem_bench.weights import WeightsMissing

    settings = {}
    for pair in option or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"option {pair!r} must look like KEY=VALUE")
        settings[key] = value
    with user_errors(ValueError, WeightsMissing, OSError, KeyError):
        chosen = read_ids(ids)
        result = fid_between(images_of(a, view, split, chosen), images_of(b, view, split, chosen), backbone=backbone, device=device, batch_size=batch_size,
                             keep_features=ci, **settings)
        if ci:
            interval = two_sample_fid_ci(result.pop("features_a"), result.pop("features_b"), resamples, level, seed)
            result["interval"] = interval.to_dict()
    result.update(split=split, ids=len(chosen) if chosen else None)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    interval = result.get("interval")
    typer.echo(f"FID {result['fid']:.4f}"
               + (f"  [{interval['low']:.4f}, {interval['high']:.4f}] ({interval['level']:.0%} bootstrap, "
                  f"{interval['n_resamples']} resamples)" if interval else "")
               + f"  (n_a={result['n_a']}, n_b={result['n_b']}; datasets: split {split}"
               + (f", {len(chosen)} ids" if chosen else "") + ")\n"
               f"backbone {result['backbone']}\nweights {result['weights']} sha256 {result['weights_sha256']}")
