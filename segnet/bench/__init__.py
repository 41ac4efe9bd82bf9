"""Benchmarks run as ``segnet bench <name>``; each module has add_arguments(parser) and run(args)."""

import platform
from pathlib import Path


def cpu_name() -> str:
    """The processor's model name, printed with every benchmark figure."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
