"""What machine a time was measured on: CPU model, cores, torch threads and a measured dense-matmul
rate.  Machines of the same kind differ by a factor of two or more, and one machine drifts, so every
reported time (``summary.json``, ``make benchmark``) carries these figures beside it."""
from __future__ import annotations

import os
import platform

import torch

from idc_lite.foundation.cost_meter import seconds_per_call


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else the platform's processor string)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def matmul_gflops(size: int = 2048, repeats: int = 5, dtype: torch.dtype = torch.float32,
                  device: str = "cpu") -> float:
    """Dense matmul rate in GFLOP/s (2 size^3 FLOPs per product): best of ``repeats`` after a warm-up,
    with torch's current thread setting.  Takes about a second on a 2-core CPU."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=g, dtype=dtype).to(device)
    b = torch.randn(size, size, generator=g, dtype=dtype).to(device)
    best = seconds_per_call(lambda: torch.mm(a, b), repeats, warmup=1, reduce="best")
    return 2 * size ** 3 / best / 1e9


def native_bf16(device: str | torch.device = "cpu") -> bool:
    """Whether ``device`` computes bfloat16 natively (CUDA with bf16 support; a CPU with AVX512-BF16
    or AMX).  Elsewhere torch emulates bfloat16 on the CPU, slower than float32."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check() for check in checks if check is not None)


def machine_info(measure: bool = True) -> dict:
    """CPU model, logical cores (and those this process may use), torch threads, and with ``measure``
    the float32 2048x2048 matmul rate in GFLOP/s; whether the CPU computes bfloat16 natively (the
    digits recipe and the attack gradients then use it); the GPU's name where CUDA is available."""
    info = {"cpu_model": cpu_model(), "logical_cores": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "native_bf16": native_bf16("cpu"), "platform": platform.platform()}
    if measure:
        info["matmul_gflops_float32_2048"] = round(matmul_gflops(), 1)
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def describe_machine(info: dict) -> str:
    """One line: 'on a 2-core AMD EPYC 7B13 measuring 150 GFLOP/s (2 torch threads, native bf16)'."""
    rate = info.get("matmul_gflops_float32_2048")
    bf16 = {True: ", native bf16", False: ", no native bf16"}.get(info.get("native_bf16"), "")   # absent in older runs
    return (f"on a {info.get('usable_cores')}-core {info.get('cpu_model')}"
            + (f" measuring {rate:.0f} GFLOP/s" if rate else "") + f" ({info.get('torch_threads')} torch threads{bf16})")


def resolve_device(name: str = "") -> torch.device:
    """The device to train or evaluate on: ``name`` ('cpu', 'cuda', 'cuda:1', 'mps'), or when empty the
    first GPU if CUDA sees one, else the CPU.  Raises InputError for a malformed name or a device that
    is not there (rather than failing later inside the first U-Net call)."""
    from idc_lite.foundation.errors import InputError

    if not isinstance(name, str):
        raise InputError(f"device must be a string such as 'cpu' or 'cuda:0', got {name!r}")
    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise InputError(f"unknown device {name!r} ({err}); use 'cpu', 'cuda' or 'cuda:N'") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {name!r} asked for, but torch sees no CUDA GPU here; use 'cpu' or leave it empty")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InputError(f"device {name!r} asked for, but torch sees {torch.cuda.device_count()} GPU(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"device {name!r} asked for, but the MPS backend is not available here")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"device {name!r} is not supported: use 'cpu', 'cuda' or 'cuda:N'")
    return device


