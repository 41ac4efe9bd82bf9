"""Benchmarks run as ``segnet bench <name>``; each module has add_arguments(parser) and run(args)."""

from segnet.core.device import cpu_description, cpu_name  # the machine line every benchmark prints

__all__ = ["cpu_description", "cpu_name"]
