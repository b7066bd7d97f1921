"""`--predictions NAME=PATH`: outputs generated elsewhere (one's own scripts, a GPU cluster), read from files.

It is an adapter like any other, so caching, every metric, tables, intervals and `compare` work unchanged. PATH is

- a folder: `<study_id>.png` (or .jpg/.tif/.dcm ...) for a task with one image output; `F/` and `L/` sub-folders
  of such files for images of both views (a single image output may also use its sub-folder); `reports.csv` with
  `study_id` and `report` columns for generated reports;
- or a CSV file with a `study_id` column and `frontal` / `lateral` (image paths, relative to the CSV's folder) and/or
  `report` (text) columns.

Column names are settings (`-s NAME.report_column=generated`). The sha256 of every prediction file enters the
checkpoint id, hence the cache key and the results: edited predictions are never scored from stale cached copies.
A study without a prediction is recorded as failed ("no prediction"), counted in `diagnostics.missing_predictions`.
Images go through the same decoding, padding and resizing as the dataset's real images (`load_image`).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Sequence

from xgem_bench.adapters.base import AnyTaskAdapter, StudyFailure
from xgem_bench.cache import _safe_name
from xgem_bench.data.images import IMAGE_SUFFIXES, load_image
from xgem_bench.data.study import IMAGE_SIZE, Study
from xgem_bench.report_scores import ReportFileError, read_id_csv
from xgem_bench.tasks import Modality, Task
from xgem_bench.weights import sha256_of

REPORTS_FILE = "reports.csv"


class PredictionsError(ValueError):
    """Predictions that cannot be read as given (missing path, wrong layout, duplicate ids)."""


class PredictionsAdapter(AnyTaskAdapter):
    name = "predictions"
    description = "outputs generated elsewhere, read from a folder or CSV keyed by study id"

    def __init__(self, **settings: Any):
        super().__init__(**settings)
        if not self.settings["path"]:
            raise PredictionsError("predictions need a path: --predictions NAME=FOLDER_OR_CSV")
        self.path = Path(self.settings["path"]).expanduser()
        if not self.path.exists():
            raise PredictionsError(f"predictions path {self.path} does not exist")
        self._index: dict[Task, dict[Modality, dict[str, Any]]] = {}
        self._missing: set[str] = set()  # a set: a batch retried study by study must not count twice

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        return {"path": None, "id_column": "study_id", "frontal_column": "frontal", "lateral_column": "lateral",
                "report_column": "report"}

    def recorded_settings(self) -> dict[str, Any]:
        return {**self.settings, "path": str(self.path.resolve()), "image_size": IMAGE_SIZE}

    # ---- reading the files --------------------------------------------------------------------------------------
    def index(self, task: Task) -> dict[Modality, dict[str, Any]]:
        """modality -> {study_id: image Path or report text} for the task's outputs (read once)."""
        if task not in self._index:
            self._index[task] = self._read_csv(task) if self.path.is_file() else self._read_folder(task)
        return self._index[task]

    def _id_names(self) -> tuple[str, ...]:
        return (str(self.settings["id_column"]).strip().lower(),)

    def _read_csv(self, task: Task) -> dict[Modality, dict[str, Any]]:
        if self.path.suffix.lower() != ".csv":
            raise PredictionsError(f"predictions file {self.path} must be a .csv (or give a folder)")
        columns = {m: (str(self.settings[f"{m.field}_column"]).strip().lower(),) for m in task.outputs}
        try:
            table = read_id_csv(self.path, {m.field: names for m, names in columns.items()},
                                id_column=self._id_names())
        except ReportFileError as error:
            raise PredictionsError(f"{error}; set the column names with -s NAME.id_column=... / "
                                   f"NAME.{task.outputs[0].field}_column=...") from error
        index: dict[Modality, dict[str, Any]] = {m: {} for m in task.outputs}
        for study_id, row in table.items():
            for modality in task.outputs:
                cell = row[modality.field]
                if not cell.strip():
                    continue  # a blank cell is a missing prediction for that study
                index[modality][study_id] = self.path.parent / cell.strip() if modality.is_image else cell
        return index

    def _read_folder(self, task: Task) -> dict[Modality, dict[str, Any]]:
        index: dict[Modality, dict[str, Any]] = {}
        images = [m for m in task.outputs if m.is_image]
        for modality in images:
            folder = self.path / modality.value
            if not folder.is_dir():
                if len(images) > 1:
                    wanted = " and ".join(f"{m.value}/" for m in images)
                    raise PredictionsError(f"{self.path} needs sub-folders {wanted} for task {task} "
                                           f"(missing {modality.value}/)")
                folder = self.path
            index[modality] = _images_by_stem(folder)
        if Modality.REPORT in task.outputs:
            reports = self.path / REPORTS_FILE
            if not reports.is_file():
                raise PredictionsError(f"{self.path} has no {REPORTS_FILE} (columns study_id, report) for the "
                                       f"generated reports of task {task}")
            report_names = (str(self.settings["report_column"]).strip().lower(),)
            try:
                table = read_id_csv(reports, {"report": report_names}, id_column=self._id_names())
            except ReportFileError as error:
                raise PredictionsError(str(error)) from error
            index[Modality.REPORT] = {i: row["report"] for i, row in table.items()}
        if not any(index.values()):
            raise PredictionsError(f"{self.path} holds no predictions for task {task}: expected "
                                   f"{', '.join(_layout(task))}")
        return index

    def files(self) -> list[Path]:
        """Every prediction file: the folder's images and reports.csv, or the CSV and the images it names."""
        if self.path.is_dir():
            return sorted(p for p in self.path.rglob("*")
                          if p.is_file() and (p.suffix.lower() in IMAGE_SUFFIXES or p.name == REPORTS_FILE))
        columns = {m.field: (str(self.settings[f"{m.field}_column"]).strip().lower(),) for m in Modality if m.is_image}
        try:  # every image column, whatever the task, so the checksum is a property of the files alone
            table = read_id_csv(self.path, columns, required=(), id_column=self._id_names())
        except ReportFileError as error:
            raise PredictionsError(str(error)) from error
        named = {self.path.parent / cell.strip() for row in table.values() for cell in row.values() if cell.strip()}
        return [self.path, *sorted(p for p in named if p.is_file())]

    def checkpoint_id(self) -> str:
        """sha256 over the prediction files (names and bytes): edited files change the cache key."""
        base = self.path if self.path.is_dir() else self.path.parent
        digest = hashlib.sha256()
        for file in self.files():
            digest.update(f"{os.path.relpath(file, base)}\0{sha256_of(file)}\n".encode())
        return f"predictions-sha256={digest.hexdigest()}"

    # ---- the adapter protocol -----------------------------------------------------------------------------------
    def diagnostics(self) -> dict[str, Any]:
        return {"missing_predictions": len(self._missing)} if self._missing else {}

    def generate(self, studies: Sequence[Study], task: Task, seeds: Sequence[int]) -> list:
        index = self.index(task)
        outputs = []
        for study in studies:
            found = {m: _lookup(index.get(m, {}), study.study_id) for m in task.outputs}
            absent = [m.value for m, value in found.items() if value is None]
            if absent:
                self._missing.add(study.study_id)
                outputs.append(StudyFailure(f"no prediction for study {study.study_id!r} ({'+'.join(absent)}) "
                                            f"in {self.path}"))
                continue
            try:
                outputs.append({m: load_image(value, IMAGE_SIZE) if m.is_image else value
                                for m, value in found.items()})
            except (OSError, ValueError) as error:
                outputs.append(StudyFailure(f"unreadable prediction: {error}"))
        return outputs


def _lookup(by_id: dict[str, Any], study_id: str) -> Any:
    """By id, or by the file-name-safe form `data export` writes for ids with characters such as '/'."""
    return by_id[study_id] if study_id in by_id else by_id.get(_safe_name(study_id))


def _images_by_stem(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if path.stem in found:
            raise PredictionsError(f"{folder}: two predictions for study {path.stem!r} ({found[path.stem].name} and "
                                   f"{path.name}); keep one")
        found[path.stem] = path
    return found


def _layout(task: Task) -> list[str]:
    images = [m for m in task.outputs if m.is_image]
    wanted = ["<study_id>.png"] if len(images) == 1 else [f"{m.value}/<study_id>.png" for m in images]
    return wanted + ([f"{REPORTS_FILE} (study_id, report)"] if Modality.REPORT in task.outputs else [])


__all__ = ["PredictionsAdapter", "PredictionsError"]
