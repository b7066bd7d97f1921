"""Datasets: the Study record, the Dataset contract, and readers resolved by name (loaded lazily)."""
from __future__ import annotations

from pathlib import Path

from xgem_bench.data.dataset import Dataset, InMemoryDataset
from xgem_bench.data.study import CHEXPERT_LABELS, PAPER_PATHOLOGIES, Study
from xgem_bench.registry import Registry, did_you_mean

# name -> "module:function"; each function takes the text after "name:" (or None) and returns a Dataset.
DATASET_READERS: dict[str, str] = {
    "demo": "xgem_bench.synthetic.demo:load_demo",
    "manifest": "xgem_bench.data.manifest:load_manifest",
    "mimic-cxr": "xgem_bench.data.mimic:load_mimic",
    "iu-xray": "xgem_bench.data.iuxray:load_iuxray",
}
#: third-party readers register here: `[project.entry-points."xgem_bench.datasets"] NAME = "module:function"`
ENTRY_POINT_GROUP = "xgem_bench.datasets"
DATASETS = Registry("dataset", ENTRY_POINT_GROUP, DATASET_READERS)


def load_dataset(spec: str | Dataset) -> Dataset:
    """`demo`, `manifest:PATH` (or a bare .csv/.parquet path), `mimic-cxr:PREPROCESSED_DIR`, `iu-xray:PNG_DIR`."""
    if isinstance(spec, Dataset):
        return spec
    name, _, argument = spec.partition(":")
    readers = DATASETS.entries()
    if name not in readers and Path(spec).suffix.lower() in {".csv", ".parquet"}:
        name, argument = "manifest", spec
    if name not in readers:
        raise ValueError(f"unknown dataset {spec!r}.{did_you_mean(name, readers)} Use one of {sorted(readers)} "
                         "(with ':PATH' where the reader needs files) or a manifest .csv/.parquet path")
    return DATASETS.load(name)(argument or None)


__all__ = ["CHEXPERT_LABELS", "DATASETS", "ENTRY_POINT_GROUP", "PAPER_PATHOLOGIES", "Dataset", "InMemoryDataset",
           "Study", "load_dataset"]
