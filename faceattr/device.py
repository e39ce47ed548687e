"""Device and numeric-precision choices, made once so training, evaluation and prediction agree."""

from __future__ import annotations

import contextlib
import os
from typing import ContextManager

import torch

from faceattr.errors import FaceattrError


def select_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """`auto` picks CUDA, then Apple MPS, then the CPU; an explicit device that is absent is an error.

    Under torchrun, `auto` and `cuda` give each process on a machine its own GPU (`cuda:LOCAL_RANK`).
    """
    if name in ("auto", "cuda") and torch.cuda.is_available():
        if local_rank >= torch.cuda.device_count():
            raise FaceattrError(
                f"train.processes: process {local_rank} has no GPU of its own "
                f"({torch.cuda.device_count()} visible); use at most one process per GPU"
            )
        return torch.device("cuda", local_rank)
    if name == "auto":
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)  # one of faceattr.config.choices.DEVICES or cuda:N (the config checks)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise FaceattrError(f"train.device: {name!r} was asked for but CUDA is not available; use auto or cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise FaceattrError(f"train.device: {name!r} was asked for but MPS is not available; use auto or cpu")
    return device


def cpu_supports_bf16() -> bool:
    """True where the CPU has native bf16 arithmetic (AVX512-BF16 or AMX), so bf16 autocast speeds it up."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_description() -> str:
    """The CPU as reproducibility depends on it: model name, cores, and which bf16 kernels it has."""
    import platform

    name = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    kinds = [f for f in ("amx_bf16", "avx512_bf16") if f in _cpu_flags()]
    return (
        f"{name}, {cpu_cores()} cores, {'native bf16 (' + ', '.join(kinds) + ')' if kinds else 'no native bf16 (fp32)'}"
    )


def _cpu_flags() -> set[str]:
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        return set()
    return {f for line in text.splitlines() if line.startswith("flags") for f in line.split(":", 1)[1].split()}


def use_bf16(device: torch.device, precision: str) -> bool:
    """Resolve `train.precision` (auto | bf16 | fp32) for a device."""
    if precision == "fp32":
        return False
    if precision == "bf16":
        return True
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return cpu_supports_bf16()
    return False


def autocast(device: torch.device, bf16: bool) -> ContextManager:
    """bf16 autocast on the device when enabled, else a no-op."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def cpu_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def set_threads(threads: int, processes: int = 1) -> int:
    """Use `threads` intra-op threads (0: the cores shared out among this machine's `processes`)."""
    n = threads if threads > 0 else max(1, cpu_cores() // processes)
    torch.set_num_threads(n)
    return n
