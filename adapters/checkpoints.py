"""Where an in-process adapter's checkpoint comes from: its catalog weight, a local folder, or a hub id already in
the local Hugging Face cache (never downloaded at run time), and a cheap fingerprint of it for the cache key."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, ClassVar

from xgem_bench import weights


def resolve_checkpoint(option: str | None, weight: str) -> Path:
    """`option` None -> the catalog weight; an existing folder -> itself; else a hub id looked up offline.

    Raises WeightsMissing (a FileNotFoundError) naming what to run.
    """
    if not option:
        return weights.require(weight)
    path = Path(option).expanduser()
    if path.is_dir():
        return path.resolve()
    if path.exists() or str(option).count("/") != 1:
        raise weights.WeightsMissing(f"checkpoint {option!r} is neither a folder nor a Hugging Face repo id")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id=option, local_files_only=True))
    except LocalEntryNotFoundError:
        raise weights.WeightsMissing(
            f"{option!r} is not in the local Hugging Face cache and xgem-bench never downloads at run time; run "
            f"`huggingface-cli download {option}` (gated repos need accepted access and a token) or pass a folder"
        ) from None


def checkpoint_fingerprint(option: str | None, weight: str) -> str:
    """The catalog checksum for the catalog weight; for any other folder, a digest of its small files (configs,
    tokenizer) and the names and sizes of its large ones: cheap, and it changes whenever the checkpoint does."""
    if not option:
        return f"{weight}={weights.checksum(weight)}"
    folder = resolve_checkpoint(option, weight)
    h = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        size = file.stat().st_size
        h.update(f"{file.relative_to(folder)}|{size}|".encode())
        if size < 1 << 20:
            h.update(file.read_bytes())
    return f"{option}={h.hexdigest()}"


class CheckpointOption:
    """Mixin for adapters whose `checkpoint` option (a folder or a cached hub id) may replace their catalog weight.

    Put it before Adapter in the bases: `class MyAdapter(CheckpointOption, Adapter)`.
    """

    checkpoint_weight: ClassVar[str]
    settings: dict[str, Any]

    def checkpoint_folder(self) -> Path:
        return resolve_checkpoint(self.settings["checkpoint"], self.checkpoint_weight)

    def unavailable_reason(self) -> str | None:
        if self.settings["checkpoint"] is None:
            return super().unavailable_reason()
        try:
            self.checkpoint_folder()
        except FileNotFoundError as error:
            return str(error)
        return None

    def recorded_settings(self) -> dict[str, Any]:
        # the checkpoint is identified by checkpoint_id(); a path says nothing about the weights in it
        return {k: v for k, v in self.settings.items() if k != "checkpoint"}

    def checkpoint_id(self) -> str:
        return checkpoint_fingerprint(self.settings["checkpoint"], self.checkpoint_weight)
