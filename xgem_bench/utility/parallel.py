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


def join() -> None:
    """Join the launcher's process group now (nothing in one process), so that the runner's generation inside the
    experiment does not own it (and tear it down) and every later barrier holds."""
    import torch
    from accelerate import PartialState
    PartialState(cpu=not torch.cuda.is_available())
