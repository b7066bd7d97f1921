"""The few process-group facts the utility training needs (torchrun / `accelerate launch`; nothing in one process).

Kept to what the runner and reference_model/training.py already do (same environment variables, same backends), until
the house step's shared `xgem_bench/distributed.py` replaces it.
"""
from __future__ import annotations

import os


def rank() -> int:
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def join() -> bool:
    """Join the launcher's process group now (nothing in one process), so that the runner's generation inside the
    experiment does not own it (and tear it down) and every later barrier holds. True when this call created it."""
    import torch
    import torch.distributed as dist
    from accelerate import PartialState
    joined_before = dist.is_available() and dist.is_initialized()
    PartialState(cpu=not torch.cuda.is_available())
    return not joined_before and dist.is_available() and dist.is_initialized()


def leave(owned: bool) -> None:
    """Tear down a process group `join` created: without it the processes hang at exit (dependencies.md §7)."""
    import torch.distributed as dist
    if owned and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
