"""Generation cache: one file per (adapter configuration, study, seed), written atomically.

Key of a cache folder: adapter name + adapter version + checkpoint checksum + task + sampler settings + dataset
fingerprint (a study id names different inputs in another dataset, or after the data changed). Inside it, one
`<study>-<seed>.npz` per generated study, so a run killed halfway resumes where it stopped.
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


def generation_folder(root: Path, adapter: str, key_hash: str) -> Path:
    """Where one adapter configuration's outputs live under a cache root."""
    return Path(root) / "generations" / _safe_name(adapter) / key_hash


class GenerationCache:
    def __init__(self, root: Path, adapter: str, key: dict[str, Any]):
        blob = json.dumps(key, sort_keys=True, default=str)
        self.key = hashlib.sha256(blob.encode()).hexdigest()[:16]
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
