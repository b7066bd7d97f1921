"""Results store: plain files under `results/<run-id>/` that tables, plots and statistics read, and its read side
(the run index, the paper's published values shipped as package data, the generated outputs of a run).

- `results.json`: what ran, with which settings, versions, checksums, seeds, git commit, and the aggregate numbers.
- `per_sample.csv`: long format (model, study_id, metric, modality, key, value), for bootstrap and paired tests.
- `generation.csv`: one row per model and study (seed, status, error).
- `artifacts/<model>/...`: large per-study artefacts metrics choose to keep (e.g. FID features).
"""
from __future__ import annotations

import csv
import difflib
import io
import json
import platform
import subprocess
import sys
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Iterable

from xgem_bench.atomic import atomic_write_text

SCHEMA_VERSION = 1
#: the XGeM paper's published values, shipped inside the package (`tables --with-paper` works from a wheel)
PAPER_VALUES = resources.files("xgem_bench") / "paper_data" / "xgem_paper_tables.json"
PER_SAMPLE_COLUMNS = ("model", "study_id", "metric", "modality", "key", "value")
GENERATION_COLUMNS = ("model", "study_id", "seed", "status", "error")
# Packages whose versions can change numbers; recorded with every run.
TRACKED_PACKAGES = ("xgem-bench", "torch", "torchvision", "numpy", "scipy", "pandas", "scikit-learn", "pillow",
                    "transformers", "tokenizers", "diffusers", "open_clip_torch", "torchxrayvision", "pytorch-fid",
                    "nltk", "radgraph", "RaTEScore", "medspacy", "torchmetrics")


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state() -> dict[str, Any]:
    """Commit of the xgem-bench source tree (None when installed from a wheel)."""
    source = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=source,
                                    capture_output=True, text=True, timeout=10).stdout.strip())
        return {"commit": commit, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def provenance(device: str, world_size: int) -> dict[str, Any]:
    return {"git": git_state(), "packages": package_versions(), "python": sys.version.split()[0],
            "platform": platform.platform(), "device": device, "world_size": world_size, "argv": sys.argv}


def _csv_text(columns: tuple[str, ...], rows: Iterable[tuple]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def write_run(run_dir: Path, results: dict, per_sample: Iterable[tuple], generation: Iterable[tuple]) -> None:
    """Write the three files atomically; results.json last, so its presence marks a complete run."""
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "per_sample.csv", _csv_text(PER_SAMPLE_COLUMNS, per_sample))
    atomic_write_text(run_dir / "generation.csv", _csv_text(GENERATION_COLUMNS, generation))
    atomic_write_text(run_dir / "results.json", json.dumps(results, indent=2, sort_keys=False, default=_jsonable))


def _jsonable(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in results.json")


def load_run(path: str | Path, root: str | Path = "results") -> dict:
    """The parsed results.json of a run folder (or of the file itself, or of run id `path` under `root`), with
    `run_dir` added."""
    path = Path(path)
    if not path.exists() and len(path.parts) == 1 and (Path(root) / path).exists():
        path = Path(root) / path  # a run id, as `results list` shows it
    file = path if path.suffix == ".json" else path / "results.json"
    if not file.exists() and (file.parent / "utility.json").exists():
        raise FileNotFoundError(f"{path} is a utility run: `xgem-bench utility table {path}` or `xgem-bench tables "
                                f"{path} --table N` shows it")
    if not file.exists():
        known = [r["run_id"] for r in list_runs(root)] if Path(root).is_dir() else []
        close = difflib.get_close_matches(str(path), known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise FileNotFoundError(f"{path} is not a finished xgem-bench run (no results.json), nor a run id under "
                                f"{root}/.{hint} `xgem-bench results list --root {root}` shows the runs")
    try:
        results = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{file} is not valid JSON ({error}); it was cut short or edited: rerun the run "
                         "(same --run-id resumes from cached outputs) or remove the folder") from None
    if not isinstance(results, dict) or not isinstance(results.get("models"), dict):
        raise ValueError(f"{file} is not an xgem-bench results file (no 'models' object)")
    if results.get("schema") != SCHEMA_VERSION:
        raise ValueError(f"{file} has results schema {results.get('schema')}, this xgem-bench reads {SCHEMA_VERSION}")
    results["run_dir"] = str(file.parent)
    return results


def load_runs(runs: Iterable[str | Path | dict], root: str | Path = "results") -> list[dict]:
    """Run folders, run ids under `root` or already loaded results, loaded."""
    return [run if isinstance(run, dict) else load_run(run, root) for run in runs]


def load_per_sample(path: str | Path):
    """per_sample.csv of a run as a pandas DataFrame."""
    import pandas as pd
    return pd.read_csv(Path(path) / "per_sample.csv", dtype={"study_id": str})


def list_runs(root: str | Path = "results", skipped: list[str] | None = None) -> list[dict]:
    """Finished runs under `root` (utility runs after the others, with their view and seeds; `models` is their synthetic
    source); a results file that cannot be read is left out and, with `skipped`, named there."""
    runs = []
    for file in sorted(Path(root).glob("*/results.json")):
        try:
            run = load_run(file)
            runs.append({"run_id": run["run_id"], "created": run["created"], "task": run["task"],
                         "dataset": run["dataset"]["name"], "models": sorted(run["models"]),
                         "path": str(file.parent)})
        except (ValueError, KeyError, TypeError, OSError) as error:
            if skipped is not None:
                skipped.append(str(error) if isinstance(error, ValueError) else f"{file}: unreadable ({error!r})")
    for file in sorted(Path(root).glob("*/utility.json")):  # `xgem-bench utility ...` runs (Tables 8-11, A4-A6)
        try:
            run = json.loads(file.read_text(encoding="utf-8"))
            runs.append({"run_id": run["run_id"], "created": run["created"], "task": f"utility {run['experiment']}",
                         "dataset": run["dataset"]["name"], "models": [run["synthetic_source"]["source"]],
                         "path": str(file.parent), "view": run["view"], "seeds": run["config"]["seeds"]})
        except (ValueError, KeyError, TypeError, OSError) as error:
            if skipped is not None:
                skipped.append(f"{file}: not a utility results file ({error!r})")
    return runs


def summary_rows(results: dict) -> list[dict[str, Any]]:
    """One row per model: status, counts and the primary value of every metric (for printing)."""
    rows = []
    for model, entry in results["models"].items():
        row = {"model": model, "status": entry["status"], "generated": entry.get("n_generated", 0),
               "failed": entry.get("n_failed", 0)}
        for key, metric in entry.get("metrics", {}).items():
            row[key] = metric["values"].get(metric.get("primary")) if metric["status"] == "ok" else metric["status"]
        rows.append(row)
    return rows


def format_table(rows: list[dict[str, Any]], width: int | None = None) -> str:
    """A plain-text table (columns = union of row keys, in first-seen order), every cell in full, its columns in
    blocks that fit the terminal (`$COLUMNS`) or `width`."""
    from xgem_bench.terminal import wrap_table
    return wrap_table(rows, width)


def load_paper_values(source=PAPER_VALUES) -> dict[tuple[str, str, str, str, str], float]:
    """(table, panel, task, paper model name, column) -> published value; `source`: a path or package resource."""
    document = json.loads(source.read_text(encoding="utf-8") if hasattr(source, "read_text")
                          else Path(source).read_text(encoding="utf-8"))
    if document.get("kind") != "published-values":
        raise ValueError(f"{source} is not a published-values file")
    return {(v["table"], v["panel"], v["task"], v["model"], v["column"]): v["value"] for v in document["values"]}


def generation_cache(run: dict, model: str, cache_root: Path | None = None):
    """The generation cache `model` used in `run`: the folder the run recorded, or the same key under `cache_root`
    (a moved or copied cache)."""
    from xgem_bench.cache import GenerationCache, generation_folder
    entry = run["models"][model]
    folder = (generation_folder(cache_root, model, entry["cache_key"]) if cache_root is not None
              else Path(entry["cache_folder"]))
    try:
        return GenerationCache.existing(folder)
    except FileNotFoundError:
        raise FileNotFoundError(f"generation cache of {model} ({run['task']}) not found at {folder}; "
                                "pass the cache folder the run used") from None


def generated_seeds(run: dict, model: str) -> dict[str, int]:
    """study_id -> seed of every study `model` generated without error in `run` (its generation.csv)."""
    with open(Path(run["run_dir"]) / "generation.csv", newline="") as handle:
        return {row["study_id"]: int(row["seed"]) for row in csv.DictReader(handle)
                if row["model"] == model and row["status"] == "ok"}
