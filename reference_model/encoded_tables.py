"""The memory-mapped tables of a stage's frozen-encoder outputs, encoded across processes.

Each process encodes its contiguous share of the studies (`share`) into a part folder of its own; rank 0 then gathers
the parts, in rank order, into one set of `.npy` files and writes `complete.json` last (atomically); every process
maps that one set. Parts are separate files rather than rows of one shared file so that no two processes ever write
the same file (safe on any filesystem the checkpoint folder lives on). A run that stops at any moment leaves either
complete tables, which a resumed stage reuses when they hold the same studies encoded by the same encoders, or no
marker, and then the tables are encoded again.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

from xgem_bench.atomic import atomic_write_text
from xgem_bench.reference_model.stages import LatentTables

MARKER = "complete.json"
_COPY_ROWS = 4096  # rows copied at a time while gathering: memory stays small whatever the table size


def share(n: int, processes: int, rank: int) -> range:
    """The rows of the n studies that process `rank` of `processes` encodes (contiguous, sizes differing by <= 1)."""
    return range(rank * n // processes, (rank + 1) * n // processes)


def part_folder(folder: Path, rank: int) -> Path:
    return Path(folder) / f"part{rank}"


class PartWriter:
    """One process's rows, appended batch by batch into memory-mapped .npy files (disk, not RAM)."""

    def __init__(self, folder: Path, n: int):
        self.folder, self.n, self.filled = Path(folder), n, 0
        self.columns: dict[str, np.ndarray] = {}
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)

    def append(self, batch: dict[str, torch.Tensor]) -> None:
        rows = 0
        for name, value in batch.items():
            value = value.detach().cpu().numpy()
            if name not in self.columns:
                self.columns[name] = np.lib.format.open_memmap(self.folder / f"{name}.npy", mode="w+",
                                                               dtype=value.dtype, shape=(self.n, *value.shape[1:]))
            self.columns[name][self.filled: self.filled + len(value)] = value
            rows = len(value)
        self.filled += rows

    def close(self) -> None:
        if self.filled != self.n:
            raise RuntimeError(f"encoded {self.filled} of {self.n} studies")
        for column in self.columns.values():
            column.flush()
        self.columns.clear()


def is_complete(folder: Path, key: dict) -> bool:
    """Whether `folder` holds gathered tables of exactly what `key` describes (studies, columns, encoders)."""
    marker = Path(folder) / MARKER
    return marker.is_file() and json.loads(marker.read_text()) == key


def clear(folder: Path) -> None:
    """Drop the marker first, then the gathered tables (rank 0, before the parts are written)."""
    folder = Path(folder)
    (folder / MARKER).unlink(missing_ok=True)
    for table in folder.glob("*.npy"):
        table.unlink()


def gather(folder: Path, n: int, processes: int, key: dict) -> None:
    """Rank 0: the parts of every process, in rank order, into one set of tables; the marker last."""
    folder = Path(folder)
    parts = [part_folder(folder, r) for r in range(processes)]
    names = sorted({p.stem for part in parts if part.is_dir() for p in part.glob("*.npy")})
    for name in names:
        pieces = [np.load(part / f"{name}.npy", mmap_mode="r") for part in parts if (part / f"{name}.npy").is_file()]
        whole = np.lib.format.open_memmap(folder / f"{name}.npy", mode="w+", dtype=pieces[0].dtype,
                                          shape=(n, *pieces[0].shape[1:]))
        row = 0
        for piece in pieces:
            for start in range(0, len(piece), _COPY_ROWS):
                chunk = piece[start: start + _COPY_ROWS]
                whole[row: row + len(chunk)] = chunk
                row += len(chunk)
        if row != n:
            raise RuntimeError(f"the parts of {folder} hold {row} rows of {name}, not {n}")
        whole.flush()
        del whole
    atomic_write_text(folder / MARKER, json.dumps(key))
    for part in parts:
        shutil.rmtree(part, ignore_errors=True)


def open_tables(folder: Path) -> LatentTables:
    """The gathered tables, memory-mapped copy-on-write (writable for torch, the files never change)."""
    return LatentTables({p.stem: torch.from_numpy(np.load(p, mmap_mode="c"))
                         for p in sorted(Path(folder).glob("*.npy"))})
