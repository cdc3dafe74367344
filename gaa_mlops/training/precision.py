"""The training step's arithmetic: bf16 autocast where the hardware computes bf16 natively, else fp32.

    trainer.precision: auto     # bf16 on a CPU with AVX512-BF16 / AMX-BF16 or a GPU with bf16; else fp32
    trainer.precision: bf16     # always (on a CPU without native bf16 it is emulated, usually slower)
    trainer.precision: fp32     # never

Only the training forward and loss run under ``torch.autocast``; the weights, the optimizer state,
the weight average, validation, calibration and GameEye stay float32, so a weight file is the same
kind of file either way. On this project's 2-core EPYC (AVX512-BF16) a training step of the
verifier (ResNet-18, batch 64) and of the detector (ssd_tiny) takes half the time in bf16
(``benchmarks/learning_speed.py``), and the budget turns that into twice the steps.
"""
from __future__ import annotations

from pathlib import Path

import torch

from gaa_mlops.distributed import DeviceError

PRECISIONS = ("auto", "fp32", "bf16")
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")   # /proc/cpuinfo flags of CPUs with bf16 dot products


class PrecisionError(DeviceError):
    """``trainer.precision`` names a precision this host cannot train in (a user error: one line)."""


def cpu_has_native_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """True when the CPU has bf16 dot-product instructions (read from ``cpuinfo``'s flags; False when
    the file cannot be read, e.g. off Linux: fp32 is the safe default there)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[-1].split())
    return any(f in flags for f in NATIVE_BF16_FLAGS)


def autocast_dtype(precision: str, device: torch.device, cpuinfo: str | Path = "/proc/cpuinfo") -> torch.dtype | None:
    """The dtype to autocast the training step to (``None``: plain fp32) for ``trainer.precision``."""
    if precision not in PRECISIONS:
        raise PrecisionError(f"unknown trainer.precision {precision!r}; valid: {list(PRECISIONS)}")
    if precision == "fp32":
        return None
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
        if precision == "bf16" and not supported:
            raise PrecisionError(f"trainer.precision=bf16 but GPU {torch.cuda.get_device_name(device)} has no "
                                 "bf16; use trainer.precision=fp32 or auto")
        return torch.bfloat16 if supported else None
    if precision == "bf16" or cpu_has_native_bf16(cpuinfo):
        return torch.bfloat16
    return None


def precision_name(dtype: torch.dtype | None) -> str:
    """What a run logs as ``gaa.train_precision``."""
    return "bf16" if dtype == torch.bfloat16 else "fp32"
