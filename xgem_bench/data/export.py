"""`xgem-bench data export`: what an external generator needs, written as a manifest and PNG files.

The export is itself a manifest dataset (study_id, subject_id, split, report, frontal, lateral, the CheXpert labels
the dataset knows, frontal_sha256 / lateral_sha256 pixel digests), so a researcher can feed it to their own scripts
and later score their outputs with `run --predictions` against the original dataset. With a task, only the studies
that `run` evaluates on it (every modality of the task present) are written, with only the task's input modalities:
the targets are not handed to the generator.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from xgem_bench.atomic import atomic_write_text
from xgem_bench.cache import _safe_name
from xgem_bench.data.dataset import Dataset
from xgem_bench.data.images import save_png
from xgem_bench.data.study import CHEXPERT_LABELS
from xgem_bench.tasks import Modality, Task, parse_task

MANIFEST_NAME = "manifest.csv"


def export_inputs(dataset: Dataset, out: str | Path, split: str = "test", task: str | Task | None = None,
                  progress: bool = True) -> Path:
    """Write `out/manifest.csv` (+ `manifest.json` sidecar) and `out/images/{F,L}/<study_id>.png`; returns the manifest.

    Refuses a folder that already holds an export. The manifest is written last, atomically: a folder with
    images but no manifest is an interrupted export, safe to delete.
    """
    out = Path(out)
    manifest = out / MANIFEST_NAME
    if manifest.exists():
        raise FileExistsError(f"{manifest} already exists; choose an empty --out folder")
    task = parse_task(task) if task is not None else None
    modalities = task.inputs if task else tuple(Modality)
    indices = dataset.indices(split)
    if task is not None:  # exactly the studies `run` evaluates: every modality of the task present
        for modality in task.modalities:
            indices = indices[dataset.available(modality)[indices]]
    if len(indices) == 0:
        raise ValueError(f"split {split!r} of {dataset.name!r} has no study" +
                         (f" with all of {[m.value for m in task.modalities]}" if task else ""))
    rows = []
    for index in tqdm(indices, desc=f"export {dataset.name}", unit="study", disable=not progress):
        study = dataset.load(int(index))
        row = {"study_id": study.study_id, "subject_id": study.subject_id, "split": study.split,
               "report": (study.report or "") if Modality.REPORT in modalities else ""}
        for modality in (Modality.FRONTAL, Modality.LATERAL):
            image = study.get(modality) if modality in modalities else None
            row[modality.field] = row[f"{modality.field}_sha256"] = ""
            if image is not None:
                relative = Path("images") / modality.value / f"{_safe_name(study.study_id)}.png"
                (out / relative).parent.mkdir(parents=True, exist_ok=True)
                row[f"{modality.field}_sha256"] = save_png(out / relative, image)
                row[modality.field] = relative.as_posix()
        row.update({name: study.labels.get(name) for name in CHEXPERT_LABELS if name in study.labels})
        rows.append(row)
    columns = ["study_id", "subject_id", "split", "report", "frontal", "lateral", "frontal_sha256", "lateral_sha256"]
    table = pd.DataFrame(rows)
    table = table[columns + [c for c in CHEXPERT_LABELS if c in table.columns]]
    meta = {"name": f"{dataset.name}-export", "synthetic": dataset.synthetic,
            "description": f"inputs exported from {dataset.name} (fingerprint {dataset.fingerprint()}), split "
                           f"{split}" + (f", task {task}: input modalities only" if task else ""),
            "source_fingerprint": dataset.fingerprint(), "split": split, "task": task.name if task else None}
    atomic_write_text(manifest.with_suffix(".json"), json.dumps(meta, indent=2, sort_keys=True) + "\n")
    atomic_write_text(manifest, table.to_csv(index=False, float_format="%g"))
    return manifest
