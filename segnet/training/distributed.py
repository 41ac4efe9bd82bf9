"""torchrun / DDP: who we are, and the few collectives training needs.

Launched with ``torchrun --nproc_per_node N -m segnet train ...``: WORLD_SIZE > 1 turns on
DistributedDataParallel (nccl on GPUs, gloo on the CPU). Rank 0 alone logs and writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from segnet.core.device import resolve_device


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str = "auto") -> tuple[DistInfo, torch.device]:
    """Join the process group torchrun describes (if any) and pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_name)
    if world <= 1:
        return DistInfo(), device
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return info, device


def close_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    if _active():
        dist.barrier()


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """Mean over ranks of a scalar tensor (on the backend's device)."""
    if not _active():
        return value
    value = value.detach().clone()
    dist.all_reduce(value)
    return value / dist.get_world_size()


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when it is True on any rank (stop decisions must agree)."""
    if not _active():
        return flag
    t = torch.tensor([int(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def broadcast_buffers(model: torch.nn.Module) -> None:
    """BN running statistics from rank 0, so validation and checkpoints see one model."""
    if not _active():
        return
    for buf in model.buffers():
        dist.broadcast(buf, src=0)


def current_rank() -> int:
    return int(os.environ.get("RANK", "0"))
