"""Generation cache: one file per (adapter configuration, study, seed), written atomically.

Key of a cache folder: adapter name + adapter version + checkpoint checksum + task + sampler settings + dataset
fingerprint (a study id names different inputs in another dataset, or after the data changed). Inside it, one
`<study>-<seed>.npz` per generated study, so a run killed halfway resumes where it stopped.

`SiblingOutputs` reads, without generating, what the same model configuration generated for another task of the same
studies (a metric such as intra-study BLEU pairs the F->T and L->T reports of one study).
"""
from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from xgem_bench.atomic import MAX_NAME, atomic_write_bytes, atomic_write_text, remove_stale_temporaries
from xgem_bench.tasks import Modality


def study_seed(base_seed: int, study_id: str) -> int:
    """A per-study seed that does not depend on the order, the shard or the subset of studies evaluated."""
    digest = hashlib.sha256(f"{base_seed}:{study_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _safe_name(study_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", study_id)
    digest = hashlib.sha256(study_id.encode()).hexdigest()
    if len(safe) > MAX_NAME:  # keep distinct ids distinct after shortening
        return safe[:MAX_NAME] + "_" + digest[:16]
    if safe != study_id:  # ... and after sanitising
        safe += "_" + digest[:8]
    return safe


def generation_folder(root: Path, adapter: str, hashed_key: str) -> Path:
    """Where one adapter configuration's outputs live under a cache root (`hashed_key`: `key_hash` of its key)."""
    return Path(root) / "generations" / _safe_name(adapter) / hashed_key


def key_hash(key: dict[str, Any]) -> str:
    """The folder name of a generation cache key."""
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


class GenerationCache:
    def __init__(self, root: Path, adapter: str, key: dict[str, Any]):
        self.key = key_hash(key)
        self.folder = generation_folder(root, adapter, self.key)
        self.folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.folder)
        key_file = self.folder / "key.json"
        if not key_file.exists():
            atomic_write_text(key_file, json.dumps(key, sort_keys=True, indent=1, default=str))

    @classmethod
    def existing(cls, folder: Path) -> "GenerationCache":
        """Open a cache folder written earlier (results.json records each model's `cache_folder`), read-only use."""
        folder = Path(folder)
        if not (folder / "key.json").is_file():
            raise FileNotFoundError(f"no generation cache at {folder}")
        cache = cls.__new__(cls)
        cache.folder, cache.key = folder, folder.name
        return cache

    def path(self, study_id: str, seed: int) -> Path:
        return self.folder / f"{_safe_name(study_id)}-{seed}.npz"

    def load(self, study_id: str, seed: int) -> dict[Modality, Any] | None:
        path = self.path(study_id, seed)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return {Modality(k): (str(data[k]) if data[k].dtype.kind == "U" else data[k].copy()) for k in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError):
            path.unlink(missing_ok=True)  # an unreadable entry is regenerated, not trusted
            return None

    def save(self, study_id: str, seed: int, outputs: dict[Modality, Any]) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, **{m.value: (np.array(v) if isinstance(v, str) else np.asarray(v)) for m, v in outputs.items()})
        atomic_write_bytes(self.path(study_id, seed), buffer.getvalue())


class SiblingOutputs:
    """What one model configuration generated for *another task* of the same studies, read from the generation cache
    and never generated: the cache key of `key` with its task swapped, each study under its own seed (`study_seed`
    of the same base seed). `command` is the `xgem-bench run` line that generates a task, with `{task}` left open."""

    def __init__(self, root: Path, adapter: str, key: dict[str, Any], base_seed: int, command: str):
        self.root, self.adapter, self.key, self.base_seed, self.command = Path(root), adapter, key, base_seed, command
        self._caches: dict[str, GenerationCache | None] = {}

    def outputs(self, task: str, study_id: str) -> dict[Modality, Any] | None:
        """The outputs generated for `study_id` on `task`, or None when that task was not generated for it."""
        if task not in self._caches:
            folder = generation_folder(self.root, self.adapter, key_hash({**self.key, "task": task}))
            self._caches[task] = GenerationCache.existing(folder) if (folder / "key.json").is_file() else None
        cache = self._caches[task]
        return cache.load(study_id, study_seed(self.base_seed, study_id)) if cache is not None else None

    def how_to_generate(self, task: str) -> str:
        return self.command.format(task=task)
