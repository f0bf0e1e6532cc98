"""idc_lite.foundation.machine: the figures every reported time carries (CPU, cores, threads, matmul rate, bf16)."""
import torch

from idc_lite.foundation.machine import describe_machine, machine_info, matmul_gflops, native_bf16


def test_machine_info_records_what_a_time_depends_on():
    info = machine_info(measure=False)
    assert {"cpu_model", "logical_cores", "usable_cores", "torch_threads", "native_bf16", "platform"} <= set(info)
    assert "matmul_gflops_float32_2048" not in info              # measure=False measures nothing
    assert info["torch_threads"] == torch.get_num_threads() and info["native_bf16"] is native_bf16("cpu")
    assert 0 < matmul_gflops(size=64, repeats=1) < 1e6


def test_describe_names_the_rate_threads_and_bf16_only_when_known():
    info = {"usable_cores": 2, "cpu_model": "Test CPU", "torch_threads": 2, "matmul_gflops_float32_2048": 187.4}
    assert describe_machine(info) == "on a 2-core Test CPU measuring 187 GFLOP/s (2 torch threads)"   # older runs: not recorded
    assert describe_machine({**info, "native_bf16": True}).endswith("(2 torch threads, native bf16)")
    assert describe_machine({**info, "native_bf16": False}).endswith("(2 torch threads, no native bf16)")
    assert "GFLOP/s" not in describe_machine({k: v for k, v in info.items() if k != "matmul_gflops_float32_2048"})


def test_resolve_device_defaults_to_what_is_there_and_refuses_what_is_not(monkeypatch):
    import pytest

    from idc_lite.foundation.errors import InputError
    from idc_lite.foundation.machine import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("") == torch.device("cpu") and resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(InputError, match="sees no CUDA GPU"):
        resolve_device("cuda:0")
    with pytest.raises(InputError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
    with pytest.raises(InputError, match="must be a string"):
        resolve_device(0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("") == torch.device("cuda") and resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(InputError, match="sees 2 GPU"):
        resolve_device("cuda:2")
