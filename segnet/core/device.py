"""Device and mixed-precision choices, made once so every command agrees."""

from __future__ import annotations

import contextlib
import functools
import platform
import sys
from pathlib import Path

import torch

from segnet.core.choices import AMP
from segnet.errors import SegnetError

DEVICE_TYPES = ("cpu", "cuda", "mps")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks cuda when present, else cpu; a device this machine lacks is a SegnetError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in DEVICE_TYPES:
        raise SegnetError(f"unknown device '{name}' (use auto, cpu, cuda, cuda:N or mps)")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise SegnetError(f"device '{name}' asked for, but no CUDA GPU is available")
        if device.index is not None and device.index >= count:
            raise SegnetError(f"device '{name}' asked for, but this machine has {count} CUDA GPU(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise SegnetError(f"device '{name}' asked for, but Apple's MPS backend is not available here")
    return device


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


@functools.cache
def cpu_name() -> str:
    """The processor's model name, printed with every benchmark figure."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


@functools.cache
def cpu_bf16_unit() -> str | None:
    """The CPU's native bf16 matrix unit ("AMX" or "AVX512-BF16"), or None.

    Without one, oneDNN emulates bf16 with float32 arithmetic plus conversions: measured 5x
    slower training on an AVX2 EPYC (docs/results/training.md), so amp=auto must not pick bf16 there.
    """
    flags = _cpu_flags()
    if flags.get("amx_bf16"):
        return "AMX"
    if flags.get("avx512_bf16"):
        return "AVX512-BF16"
    return None


def _cpu_flags() -> dict[str, bool]:
    """amx_bf16 / avx512_bf16 as torch's own CPU probe sees them, /proc/cpuinfo when torch lacks one."""
    probe = getattr(torch._C, "_cpu", None)
    capability = getattr(probe, "_get_cpu_capability", None)  # a private dict-returning probe (torch >= 2.6)
    if capability is not None:
        try:
            caps = capability()
            if isinstance(caps, dict) and "amx_bf16" in caps:
                return {key: bool(caps.get(key)) for key in ("amx_bf16", "avx512_bf16")}
        except RuntimeError:
            pass
    words = set(_cpuinfo().split())
    return {key: key in words for key in ("amx_bf16", "avx512_bf16")}


def cpu_description() -> str:
    """CPU model and bf16 capability, the machine line of every benchmark."""
    unit = cpu_bf16_unit()
    bf16 = f"native bf16 ({unit})" if unit else "no native bf16 (amp=auto runs float32)"
    return f"{cpu_name()}, {bf16}"


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    """One ``segnet: warning:`` line per process, however many models resolve their precision."""
    if message not in _warned:
        _warned.add(message)
        print(f"segnet: warning: {message}", file=sys.stderr, flush=True)


def resolve_amp(amp: str | bool | None, device: torch.device) -> torch.dtype | None:
    """Map the ``amp`` option to an autocast dtype (None = full float32).

    auto: bf16 on a GPU that supports it (else fp16), bf16 on a CPU with a native bf16 matrix
    unit (AMX, AVX512-BF16), float32 everywhere else. An explicit bf16 is honoured with a warning
    on a CPU without one.
    """
    if amp is None or amp is False or amp == "off":
        return None
    if amp is True:
        amp = "auto"
    if amp not in AMP:
        raise SegnetError(f"amp must be one of {', '.join(AMP)}, got '{amp}'")
    if amp == "fp16":
        if device.type != "cuda":
            raise SegnetError("amp=fp16 needs a CUDA device; use bf16 on the CPU")
        return torch.float16
    if device.type == "cuda":
        if amp == "bf16" or torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16
    if device.type != "cpu":
        return torch.bfloat16 if amp == "bf16" else None
    native = cpu_bf16_unit() is not None
    if amp == "bf16" and not native:
        _warn_once(f"amp=bf16 on a CPU without native bf16 ({cpu_name()}): expect it to run several times "
                   "slower than float32 (amp=auto or off)")
    return torch.bfloat16 if amp == "bf16" or native else None


def resolve_channels_last(channels_last: bool | None, device: torch.device) -> bool:
    """``None`` (auto): channels_last for CPU training, where oneDNN's convolutions run faster in
    it (FC-DenseNet103 step 18.8 s vs 20.1 s on one AMD EPYC core, docs/results/training.md);
    contiguous elsewhere, where it was not measured."""
    return device.type == "cpu" if channels_last is None else bool(channels_last)


def autocast(device: torch.device, dtype: torch.dtype | None):
    """An autocast context for ``dtype``, or a no-op when dtype is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
