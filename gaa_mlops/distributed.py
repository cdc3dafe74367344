"""Multi-process training with torch.distributed, and device selection.

Run (one host, two CPU processes, gloo; the same command with ``trainer.device=cuda`` uses NCCL
and one GPU per process):

    torchrun --standalone --nproc_per_node=2 -m gaa_mlops.train model=resnet34
    torchrun --standalone --nproc_per_node=2 -m gaa_mlops.train model=ssd trainer.device=cuda

torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address; without them
everything here is the single-process no-op. ``trainer.batch_size`` stays the *global* batch:
each of the N processes takes ``batch_size / N`` images of its own shard per step
(``DistributedSampler``) and DDP averages the gradients, so one step sees the same number of
images as in one process. Only rank 0 talks to MLflow, validates, checkpoints and registers.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as torch_dist

DEVICES = ("cpu", "cuda", "auto")


class DeviceError(RuntimeError):
    """The configured ``trainer.device`` is not available on this host."""


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = DistContext()


def context_from_env() -> DistContext:
    """The process's place in a torchrun job (rank 0 of 1 when not launched by torchrun)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    return DistContext(rank=int(os.environ["RANK"]), world_size=world,
                       local_rank=int(os.environ.get("LOCAL_RANK", os.environ["RANK"])))


def resolve_device(name: str, ctx: DistContext = SINGLE) -> torch.device:
    """``cpu``, ``cuda`` (fails clearly when there is no usable GPU) or ``auto`` (cuda when present).

    Under torchrun each process gets ``cuda:<LOCAL_RANK>``."""
    if name not in DEVICES and not str(name).startswith("cuda:"):
        raise DeviceError(f"unknown trainer.device {name!r}; valid: {list(DEVICES)} or cuda:<index>")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise DeviceError(f"trainer.device={name} but CUDA is not available on this host "
                          f"(torch {torch.__version__}, built with CUDA {torch.version.cuda}); "
                          f"use trainer.device=cpu, or trainer.device=auto to take a GPU only when present")
    if name == "cuda":
        index = ctx.local_rank if ctx.enabled else 0
    else:
        index = int(name.split(":", 1)[1])
    if index >= torch.cuda.device_count():
        raise DeviceError(f"trainer.device={name}: process {ctx.rank} wants GPU {index} but this host has "
                          f"{torch.cuda.device_count()}; start at most that many processes per node")
    return torch.device("cuda", index)


def init(device: torch.device, ctx: DistContext, timeout_minutes: float = 30) -> None:
    """Join the process group (gloo on CPU, NCCL on CUDA) once per process; no-op for one process."""
    if not ctx.enabled or torch_dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    torch_dist.init_process_group(backend=backend, rank=ctx.rank, world_size=ctx.world_size,
                                  timeout=dt.timedelta(minutes=timeout_minutes))


def shutdown(ctx: DistContext) -> None:
    if ctx.enabled and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        torch_dist.barrier()


def broadcast_object(obj: Any, ctx: DistContext, src: int = 0) -> Any:
    """``obj`` from rank ``src`` on every rank (pickled; small things: decisions, checkpoints)."""
    if not ctx.enabled:
        return obj
    box = [obj if ctx.rank == src else None]
    torch_dist.broadcast_object_list(box, src=src)
    return box[0]


def average_weighted(values: dict[str, float], weight: float, ctx: DistContext) -> tuple[dict[str, float], float]:
    """Each rank's per-image averages → the average over all images of all ranks, and the image count."""
    if not ctx.enabled:
        return values, weight
    keys = sorted(values)
    t = torch.tensor([float(values[k]) * weight for k in keys] + [float(weight)], dtype=torch.float64)
    torch_dist.all_reduce(t)
    total = float(t[-1])
    return {k: float(t[i]) / max(total, 1e-12) for i, k in enumerate(keys)}, total


def threads_per_process(ctx: DistContext) -> int:
    """Split the host's cores among the processes on it (oversubscription slows everything)."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", ctx.world_size)) if ctx.enabled else 1
    return max(1, (os.cpu_count() or 1) // max(local, 1))
