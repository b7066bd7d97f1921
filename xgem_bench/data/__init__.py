"""Datasets: the Study record, the Dataset contract, and readers resolved by name (loaded lazily)."""
from __future__ import annotations

from pathlib import Path

from xgem_bench.data.dataset import Dataset, InMemoryDataset
from xgem_bench.data.study import CHEXPERT_LABELS, PAPER_PATHOLOGIES, Study
from xgem_bench.registry import load_object

# name -> "module:function"; each function takes the text after "name:" (or None) and returns a Dataset.
DATASET_READERS = {
    "demo": "xgem_bench.data.demo:load_demo",
    "manifest": "xgem_bench.data.manifest:load_manifest",
    "mimic-cxr": "xgem_bench.data.mimic:load_mimic",
    "iu-xray": "xgem_bench.data.iuxray:load_iuxray",
}


def load_dataset(spec: str | Dataset) -> Dataset:
    """`demo`, `manifest:PATH` (or a bare .csv/.parquet path), `mimic-cxr:PREPROCESSED_DIR`, `iu-xray:PNG_DIR`."""
    if isinstance(spec, Dataset):
        return spec
    name, _, argument = spec.partition(":")
    if name not in DATASET_READERS and Path(spec).suffix.lower() in {".csv", ".parquet"}:
        name, argument = "manifest", spec
    if name not in DATASET_READERS:
        raise ValueError(f"unknown dataset {spec!r}; use one of {sorted(DATASET_READERS)} "
                         "(with ':PATH' where the reader needs files) or a manifest .csv/.parquet path")
    return load_object(DATASET_READERS[name])(argument or None)


__all__ = ["CHEXPERT_LABELS", "PAPER_PATHOLOGIES", "Dataset", "InMemoryDataset", "Study", "load_dataset"]
