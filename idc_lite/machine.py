"""What machine a time was measured on: CPU model, cores, torch threads and a measured dense-matmul
rate.  Machines of the same kind differ by a factor of two or more, and one machine drifts, so every
reported time (``summary.json``, ``make benchmark``) carries these figures beside it."""
from __future__ import annotations

import os
import platform
import time

import torch


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
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        if device != "cpu":
            torch.cuda.synchronize()
        start = time.perf_counter()
        torch.mm(a, b)
        if device != "cpu":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
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


def describe(info: dict) -> str:
    """One line: 'on a 2-core AMD EPYC 7B13 measuring 150 GFLOP/s (2 torch threads, native bf16)'."""
    rate = info.get("matmul_gflops_float32_2048")
    bf16 = {True: ", native bf16", False: ", no native bf16"}.get(info.get("native_bf16"), "")   # absent in older runs
    return (f"on a {info.get('usable_cores')}-core {info.get('cpu_model')}"
            + (f" measuring {rate:.0f} GFLOP/s" if rate else "") + f" ({info.get('torch_threads')} torch threads{bf16})")
