"""Image sets for `xgem-bench fid`: a folder of image files, or one view of a dataset, optionally restricted to a
split and to a list of study ids."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator


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
