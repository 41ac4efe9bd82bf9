"""Benchmarks run as ``segnet bench <name>``; each module has add_arguments(parser) and run(args)."""

from segnet.core.device import (  # the machine line every benchmark prints
    cpu_description,
    cpu_name,
)

__all__ = ["cpu_description", "cpu_name"]
