"""Process plumbing shared by the evaluation runner and reference-model training: which device a process uses, joining
and leaving the process group of `torchrun` / `accelerate launch`, and rank helpers (who prints, who writes).

torch is imported inside the functions: the CLI imports this module and must start without paying torch's import.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable


def launched_world_size() -> int:
    """Processes started by the launcher (1 when run directly)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def resolve_device(device: str | None = None) -> str:
    """`auto` (or None): this process's GPU (`cuda:LOCAL_RANK` under a launcher) when there is one, else the CPU;
    anything else is passed to torch as is."""
    if device not in (None, "auto"):
        return device
    import torch  # only here: availability checks build backbones on "cpu" and must not pay torch's import
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    return "cpu"


def cpu_only() -> bool:
    """accelerate's `cpu` flag: on GPU-less machines without it, accelerate ignores torchrun and each rank trains
    alone."""
    import torch
    return not torch.cuda.is_available()


@dataclass
class ProcessGroup:
    """This process's place in a launched run; a single process is rank 0 of 1 and needs no group."""

    rank: int = 0
    world_size: int = 1
    owns_group: bool = False

    @classmethod
    def join(cls) -> "ProcessGroup":
        """Join the launcher's group (nccl on GPUs, gloo on CPUs), or reuse one a caller already set up."""
        if launched_world_size() <= 1:
            return cls()
        import torch
        import torch.distributed as dist
        owns = not dist.is_initialized()
        if owns:
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return cls(dist.get_rank(), dist.get_world_size(), owns)

    def gather(self, value):
        """All ranks' values, in rank order (on every rank)."""
        if self.world_size == 1:
            return [value]
        import torch.distributed as dist
        out = [None] * self.world_size
        dist.all_gather_object(out, value)
        return out

    def broadcast(self, value):
        """Rank 0's value, on every rank."""
        if self.world_size == 1:
            return value
        import torch.distributed as dist
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self) -> None:
        """Leave the group if this object set it up (a caller's group is the caller's to end)."""
        if self.owns_group:
            shutdown()


def init_accelerate():
    """Join the process group of `torchrun` / `accelerate launch` through accelerate (nothing in a single process);
    returns accelerate's PartialState (its `.device` is this process's accelerator)."""
    from accelerate import PartialState
    return PartialState(cpu=cpu_only())


def rank() -> int:
    import torch.distributed as dist
    if dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))  # launched, group not joined yet


def is_main() -> bool:
    return rank() == 0


def on_main(fn: Callable[..., None]) -> Callable[..., None]:
    """`fn` (a print or log function) run on rank 0 only, so that launched runs print each line once."""
    def call(*args, **kwargs) -> None:
        if is_main():
            fn(*args, **kwargs)
    return call


def barrier() -> None:
    import torch.distributed as dist
    if dist.is_initialized():
        dist.barrier()


def shutdown() -> None:
    """End a distributed run cleanly: every rank reaches the barrier before the group goes (without it ranks
    intermittently abort at exit, dependencies.md §7)."""
    import torch.distributed as dist
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


_ERROR_KEY = "xgem_bench/error"


def reports_error(wait_s: float = 10.0) -> bool:
    """Whether this rank should print the error it just met. Errors from bad input hit every rank alike: rank 0 prints
    (and tells the others through the launcher's store); another rank prints only if rank 0 has told of no error
    within `wait_s` seconds, i.e. the error is its own."""
    import torch.distributed as dist
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return True
    store = dist.distributed_c10d._get_default_store()
    if dist.get_rank() == 0:
        store.set(_ERROR_KEY, "1")
        return True
    try:
        store.wait([_ERROR_KEY], timedelta(seconds=wait_s))
        return False
    except dist.DistStoreError:
        return True
