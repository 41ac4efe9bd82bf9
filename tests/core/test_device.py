"""Device and precision choices. The CPU probe is mocked: the answer must not depend on the machine."""

import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from segnet.core import device as dev
from segnet.core.device import resolve_amp, resolve_device
from segnet.errors import SegnetError

CPU = torch.device("cpu")


@pytest.fixture
def cpu_unit(monkeypatch):
    """Pretend the CPU has the given native bf16 unit (None: AVX2 only); warnings start fresh."""
    monkeypatch.setattr(dev, "_warned", set())

    def pretend(unit):
        monkeypatch.setattr(dev, "cpu_bf16_unit", lambda: unit)

    return pretend


@pytest.mark.parametrize("unit, expected", [("AMX", torch.bfloat16), ("AVX512-BF16", torch.bfloat16), (None, None)])
def test_auto_is_bf16_only_with_a_native_unit(cpu_unit, capsys, unit, expected):
    cpu_unit(unit)
    assert resolve_amp("auto", CPU) is expected
    assert resolve_amp(True, CPU) is expected
    assert resolve_amp("off", CPU) is None
    assert capsys.readouterr().err == ""


def test_explicit_bf16_without_native_unit_warns_once_and_proceeds(cpu_unit, capsys):
    cpu_unit(None)
    assert resolve_amp("bf16", CPU) is torch.bfloat16
    assert resolve_amp("bf16", CPU) is torch.bfloat16  # a second model in the same command: no second line
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("segnet: warning: amp=bf16 on a CPU without native bf16")


def test_explicit_bf16_with_native_unit_is_silent(cpu_unit, capsys):
    cpu_unit("AMX")
    assert resolve_amp("bf16", CPU) is torch.bfloat16
    assert capsys.readouterr().err == ""


def test_fp16_needs_cuda_and_unknown_amp():
    with pytest.raises(SegnetError, match="fp16 needs a CUDA device"):
        resolve_amp("fp16", CPU)
    with pytest.raises(SegnetError, match="amp must be one of"):
        resolve_amp("fp32", CPU)


@pytest.mark.parametrize(
    "caps, cpuinfo, expected",
    [
        ({"amx_bf16": True, "avx512_bf16": True}, "", "AMX"),
        ({"amx_bf16": False, "avx512_bf16": True}, "", "AVX512-BF16"),
        ({"amx_bf16": False, "avx512_bf16": False}, "flags : avx2 amx_bf16", None),  # torch's probe wins
        (None, "flags\t\t: fpu avx2 avx512f amx_bf16 amx_tile", "AMX"),  # no torch probe: /proc/cpuinfo
        (None, "flags\t\t: fpu avx2 avx512_bf16", "AVX512-BF16"),
        (None, "flags\t\t: fpu sse4_2 avx2 fma", None),
        (None, "", None),  # no /proc/cpuinfo (macOS)
    ],
)
def test_bf16_unit_probe(monkeypatch, caps, cpuinfo, expected):
    probe = type("Probe", (), {})()
    if caps is not None:
        probe._get_cpu_capability = lambda: dict(caps, avx2=True, cpu_name="Test CPU")
    monkeypatch.setattr(torch._C, "_cpu", probe)
    monkeypatch.setattr(dev, "_cpuinfo", lambda: cpuinfo)
    dev.cpu_bf16_unit.cache_clear()
    try:
        assert dev.cpu_bf16_unit() == expected
    finally:
        dev.cpu_bf16_unit.cache_clear()


def test_cpu_description_names_model_and_bf16(monkeypatch):
    monkeypatch.setattr(dev, "cpu_name", lambda: "Example CPU 9000")
    monkeypatch.setattr(dev, "cpu_bf16_unit", lambda: None)
    assert dev.cpu_description() == "Example CPU 9000, no native bf16 (amp=auto runs float32)"
    monkeypatch.setattr(dev, "cpu_bf16_unit", lambda: "AMX")
    assert dev.cpu_description() == "Example CPU 9000, native bf16 (AMX)"


def test_devices_this_machine_lacks(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == CPU and resolve_device("cpu") == CPU
    with pytest.raises(SegnetError, match="no CUDA GPU is available"):
        resolve_device("cuda")
    with pytest.raises(SegnetError, match="MPS backend is not available"):
        resolve_device("mps")
    for name in ("gpu", "xpu", "meta", "cuda:x"):
        with pytest.raises(SegnetError, match="unknown device"):
            resolve_device(name)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(SegnetError, match="has 1 CUDA GPU"):
        resolve_device("cuda:1")


def _missing_device() -> tuple[str, str]:
    """A device this machine lacks and the error naming it: MPS, or CUDA on a Mac (no machine has both)."""
    if not torch.backends.mps.is_available():
        return "mps", "segnet: error: device 'mps' asked for, but Apple's MPS backend is not available here"
    assert not torch.cuda.is_available()
    return "cuda", "segnet: error: device 'cuda' asked for, but no CUDA GPU is available"


def test_predict_on_a_missing_device_is_one_line(tmp_path):
    device, error = _missing_device()
    cv2.imwrite(str(tmp_path / "frame.png"), np.zeros((40, 50, 3), np.uint8))
    proc = subprocess.run([sys.executable, "-m", "segnet", "predict", str(tmp_path / "frame.png"), "--device", device,
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "out").exists()
    assert proc.stderr.strip().splitlines() == [error]
